namespace Lddm.Training.Checkpoints;

/// <summary>Write-to-temp, flush, rename: readers see the old file or the new one, never a torn one.</summary>
internal static class AtomicFile
{
    public static void WriteAllText(string path, string text)
    {
        string tmp = $"{path}.tmp-{Guid.NewGuid():N}";
        try
        {
            using (var stream = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            using (var writer = new StreamWriter(stream))
            {
                writer.Write(text);
                writer.Flush();
                stream.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp))
            {
                File.Delete(tmp);
            }
        }
    }
}
