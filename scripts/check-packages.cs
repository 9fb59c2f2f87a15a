// Checks packed Lddm packages (a folder of .nupkg/.snupkg): each library package has a real description, the MIT
// licence expression, its README, the XML docs beside every assembly and a symbol package; no package but Lddm.Plots
// depends on ScottPlot/SkiaSharp/HarfBuzz. Exits 1 naming every problem.
//   dotnet run scripts/check-packages.cs -- FEED_DIR
using System.IO.Compression;
using System.Xml.Linq;

if (args.Length != 1 || !Directory.Exists(args[0]))
{
    Console.Error.WriteLine("usage: dotnet run scripts/check-packages.cs -- FEED_DIR");
    return 2;
}
string[] expected = ["Lddm.Kernels", "Lddm.Autograd", "Lddm.Models", "Lddm.Training", "Lddm.Plots"];
string[] graphics = ["ScottPlot", "SkiaSharp", "HarfBuzzSharp"];
var problems = new List<string>();
foreach (string id in expected)
{
    var nupkg = Directory.GetFiles(args[0], $"{id}.*.nupkg").Where(f => char.IsDigit(Path.GetFileName(f)[id.Length + 1])).ToList();
    if (nupkg.Count != 1)
    {
        problems.Add($"{id}: expected one .nupkg in {args[0]}, found {nupkg.Count}");
        continue;
    }
    string file = nupkg[0];
    if (!File.Exists(Path.ChangeExtension(file, ".snupkg")))
    {
        problems.Add($"{id}: no symbol package {Path.GetFileName(Path.ChangeExtension(file, ".snupkg"))}");
    }
    using var zip = ZipFile.OpenRead(file);
    var names = zip.Entries.Select(e => e.FullName).ToList();
    var nuspecEntry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
    XDocument nuspec;
    using (var s = nuspecEntry.Open())
    {
        nuspec = XDocument.Load(s);
    }
    XElement? Meta(string name) => nuspec.Descendants().FirstOrDefault(e => e.Name.LocalName == name);
    string description = Meta("description")?.Value ?? "";
    if (description.Length < 40 || description == "Package Description")
    {
        problems.Add($"{id}: description '{description}' is missing or a placeholder");
    }
    if (Meta("license") is not { } license || license.Attribute("type")?.Value != "expression" || license.Value != "MIT")
    {
        problems.Add($"{id}: no MIT licence expression");
    }
    if (Meta("readme")?.Value is not { Length: > 0 } readme || !names.Contains(readme))
    {
        problems.Add($"{id}: no readme in the package");
    }
    if (Meta("authors")?.Value is not { } authors || authors == id)
    {
        problems.Add($"{id}: authors is the assembly name");
    }
    var dlls = names.Where(n => n.StartsWith("lib/", StringComparison.Ordinal) && n.EndsWith(".dll", StringComparison.Ordinal)).ToList();
    if (dlls.Count == 0)
    {
        problems.Add($"{id}: no assembly under lib/");
    }
    foreach (string dll in dlls.Where(d => !names.Contains(Path.ChangeExtension(d, ".xml"))))
    {
        problems.Add($"{id}: {dll} has no XML documentation file beside it");
    }
    var dependencies = nuspec.Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => e.Attribute("id")?.Value ?? "").ToList();
    foreach (string dep in dependencies.Where(d => id != "Lddm.Plots" && graphics.Any(g => d.StartsWith(g, StringComparison.OrdinalIgnoreCase))))
    {
        problems.Add($"{id}: depends on {dep} (native graphics belong to Lddm.Plots only)");
    }
    Console.WriteLine($"{id}: {new FileInfo(file).Length / 1024.0:F0} KiB, {dlls.Count} assemblies, dependencies: {string.Join(", ", dependencies)}");
}
foreach (string p in problems)
{
    Console.Error.WriteLine($"check-packages: {p}");
}
return problems.Count == 0 ? 0 : 1;
