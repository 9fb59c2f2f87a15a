using System.Globalization;
using Lddm.Kernels;
using Lddm.Kernels.Diagnostics;
using Lddm.Training.Runs;

namespace Lddm.Cli;

/// <summary>
/// The <c>lddm</c> entry: parse (<see cref="LddmCommandLine"/>), run the verb, and the error boundary (exit 2 for what
/// the user can fix, 70 for a bug). Each verb stays thin: read its options, call the library, print.
/// </summary>
internal static class Commands
{
    public static int Run(string[] args)
    {
        // "lddm help [verb]" reads as "lddm [verb] --help".
        if (args is ["help", .. var rest])
        {
            args = [.. rest.Take(1), "--help"];
        }
        var root = LddmCommandLine.Build();
        if (args.Length == 0)
        {
            root.Parse(["--help"]).Invoke();
            return 2;
        }
        try
        {
            var parsed = root.Parse(args);
            if (LddmCommandLine.Errors(parsed) is { } errors)
            {
                foreach (string line in errors)
                {
                    Console.Error.WriteLine($"lddm: {line}");
                }
                return 2;
            }
            // Exceptions reach the boundary below (System.CommandLine's own handler would print a trace and exit 1).
            return parsed.Invoke(new System.CommandLine.InvocationConfiguration
            {
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = null, // train handles Ctrl+C itself (save a checkpoint, then stop)
            });
        }
        catch (UsageException e)
        {
            string hint = LddmCommandLine.Verbs.Contains(args[0]) ? $"lddm {args[0]} --help lists its options" : "lddm --help lists the verbs";
            Console.Error.WriteLine($"lddm: {e.Message} ({hint})");
            return 2;
        }
        catch (Exception e) when (IsExpected(e))
        {
            // Bad input (config, checkpoint, corpus, device, I/O, a diverged run, memory): one clear line, no stack trace.
            Console.Error.WriteLine($"lddm: {OneLine(e)}");
            return 2;
        }
        catch (Exception e)
        {
            // Anything else is a bug in lddm: say so, with the stack trace a report needs.
            Console.Error.WriteLine($"lddm: bug: an unexpected {e.GetType().Name} escaped (please report it with this trace):");
            Console.Error.WriteLine(e);
            return 70;
        }
    }

    /// <summary>
    /// The failures a user can cause or fix (the error boundary's one-line class): bad config, data, checkpoint or
    /// flags, I/O (disk full, permissions, a locked --out), a diverged run, a device that cannot start, memory.
    /// </summary>
    internal static bool IsExpected(Exception e) => e switch
    {
        ArgumentNullException => false, // a null reaching a library call is a bug, not bad input
        ArgumentException or IOException or InvalidDataException or FormatException or NotSupportedException
            or UnauthorizedAccessException or System.Text.Json.JsonException or OutOfMemoryException
            or PlatformNotSupportedException or Lddm.Training.Engine.TrainingDivergedException => true,
        _ => false,
    };

    /// <summary>The message on one line; out of memory gets the hint of what to lower.</summary>
    internal static string OneLine(Exception e)
    {
        string message = e is OutOfMemoryException and not InsufficientMemoryException
            ? $"out of memory ({e.Message}): lower --batch, --length or --preset"
            : e.Message;
        if (e is ArgumentException { ParamName: { } parameter } && message.EndsWith($" (Parameter '{parameter}')", StringComparison.Ordinal))
        {
            message = message[..^$" (Parameter '{parameter}')".Length]; // .NET's suffix names a C# parameter, not a flag
        }
        return message.ReplaceLineEndings(" ");
    }

    internal static int Device(Options options)
    {
        options.RejectUnused();
        var devices = Devices.List();
        foreach (var d in devices)
        {
            Console.WriteLine($"{d.Spec,-10} {d.Description}");
        }
        Console.WriteLine($"auto -> {devices[0].Spec}");
        return 0;
    }

    internal static int Bench(Options options)
    {
        bool quick = options.Flag("quick");
        string spec = options.Value("device") ?? "auto";
        options.RejectUnused();
        using var backend = Devices.Create(spec);
        Console.WriteLine($"device: {backend.Name}");
        double peak = MachinePeak.Fp32GflopsPerSecond();
        double bandwidth = MachinePeak.BandwidthGBPerSecond();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"measured fp32 FMA peak: {peak:F1} GFLOP/s; DRAM streaming bandwidth: {bandwidth:F1} GB/s (cache-resident kernels can exceed it)"));
        var context = new BenchContext(backend, quick ? 0.3 : 2.0);
        BenchRow? headline = null;
        foreach (var bench in QuickBench.Discover())
        {
            foreach (var row in bench.Run(context))
            {
                Console.WriteLine(QuickBench.Format(row, peak, bandwidth));
                if (row.Kernel == "matmul" && row.Shape == "1024x1024x1024")
                {
                    headline = row;
                }
            }
        }
        if (headline is not null)
        {
            double g = headline.Work / headline.Seconds / 1e9;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"matmul 1024x1024x1024 fp32 {headline.Backend}: {g:F1} GFLOP/s = {100 * g / peak:F1}% of peak {peak:F1} GFLOP/s"));
        }
        if (backend.Kind == BackendKind.Cpu)
        {
            // The whole training step on 1 and 2 threads (30 warm-up steps per trainer, then interleaved rounds), timed
            // before the simulator below, whose many threads and large heap would still be winding down.
            TrainStepReport.Run(quick ? ["small", "3", "8"] : ["tiny,small,base", "4", "12"], Console.Out);
        }
        // Launches and synchronisations per training step on the GPU path (counted on ILGPU's simulator).
        StepCounts.Run(quick ? ["small"] : ["tiny", "small", "base"], Console.Out, backend);
        return 0;
    }
}
