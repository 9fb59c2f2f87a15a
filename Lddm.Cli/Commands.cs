using System.Globalization;
using Lddm.Kernels;
using Lddm.Kernels.Diagnostics;

namespace Lddm.Cli;

/// <summary>The <c>lddm</c> verbs. Each stays thin: parse, call the library, print.</summary>
internal static class Commands
{
    private const string Usage = """
        usage: lddm <verb> [options]
          train [--model mdlm|fuji|seq|diladd|ar] [--stage 0|1|2|-1] [--init DIR] [--data text|sawtooth]
                [--corpus moby-dick|sotu] [--preset xxs|tiny|small|base] [--steps N] [--batch B] [--length L]
                [--seed S] [--config file.json] [--set key=value ...] [--out DIR] [--resume] [--device D]
                                       train a model (defaults: small MDLM on the bundled Moby-Dick text);
                                       seq/fuji with stage 0 train stage 1 into OUT/stage1, then stage 2 into
                                       OUT (fuji with a frozen encoder: stage 2 alone; fuji -1: joint, one stage;
                                       diladd: codes of a frozen encoder, --set latent_codes=C)
          sample --checkpoint DIR [--steps N] [--count K] [--seed S] [--temperature T] [--device D]
          eval --checkpoint DIR [--draws N] [--count K] [--steps 2,4,...] [--batch B] [--seed S] [--device D]
                                       validation NELBO (bits/token); sawtooth: exact NLL, unigram KL and
                                       entropy of K samples vs N
          sweep --checkpoint DIR[,DIR...] [--label a,b,...] [--steps 2,4,8,16,32,64,128] [--count 2048]
                --out PREFIX [--batch B] [--seed S] [--append EARLIER.csv] [--device D]
                                       the sawtooth eval for every checkpoint and N: PREFIX.csv, .md, .png
                                       (--append: an earlier sweep's rows join the report)
          eval-gen --judge DIR --checkpoint DIR[,DIR...] [--label a,b,...] [--steps 2,4,...,128] [--count K]
                [--out PREFIX] [--batch B] [--seed S] [--temperature T] [--device D]
                                       text: generative perplexity under an AR judge (--model ar) and
                                       per-sequence unigram entropy vs N, beside real validation text
                                       sample, eval, sweep, eval-gen also take [--sampler joint|sequential[,...]]
                                       [--latent-steps 8]: FUJI/Di-LADD latent-first (N_lat latent steps with all-MASK
                                       tokens, then N token steps; N + N_lat calls), one sampler or one per DIR
          prepare-corpus [--raw DIR] [--out DIR]
                                       normalise and split the SOTU speeches (scripts/fetch-corpus.sh runs it)
          device                       list devices and the one --device auto picks
          bench [--quick] [--device D] time every kernel against this machine's measured peak
          ptx [--arch sm_80|sm_90]     compile every ILGPU kernel to PTX and assemble it with ptxas (LDDM_PTXAS)
          cl [--vendor generic|intel]  generate OpenCL C for every kernel an OpenCL device loads; check it with clang
        devices: 
        """ + Devices.Help;

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            var options = Options.Parse(args.AsSpan(1));
            return args[0] switch
            {
                "device" => Device(options),
                "train" => TrainCommand.Run(options),
                "sample" => SampleCommand.Sample(options),
                "eval" => SampleCommand.Eval(options),
                "eval-gen" => EvalGenCommand.Run(options),
                "sweep" => SweepCommand.Run(options),
                "prepare-corpus" => PrepareCorpusCommand.Run(options),
                "bench" => Bench(options),
                "ptx" => PtxCommand.Run(options),
                "cl" => ClCommand.Run(options),
                _ => throw new UsageException($"unknown verb '{args[0]}'"),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"lddm: {e.Message} (lddm --help lists the verbs and options)");
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
    private static string OneLine(Exception e)
    {
        string message = e is OutOfMemoryException and not InsufficientMemoryException
            ? $"out of memory ({e.Message}): lower --batch, --length or --preset"
            : e.Message;
        return message.ReplaceLineEndings(" ");
    }

    private static int Device(Options options)
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

    private static int Bench(Options options)
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
        return 0;
    }
}
