using System.Runtime.InteropServices;

namespace Lddm.Training.Distributed;

/// <summary>
/// The collective over Open MPI: a P/Invoke layer over <c>libmpi.so.40</c> (MPI_Init, MPI_Comm_rank/size,
/// MPI_Allreduce on floats in place, MPI_Bcast of bytes, MPI_Barrier, MPI_Abort, MPI_Finalize) on MPI_COMM_WORLD.
/// Open MPI's handles are the addresses of exported objects (<c>ompi_mpi_comm_world</c>, <c>ompi_mpi_float</c>,
/// <c>ompi_mpi_byte</c>, <c>ompi_mpi_op_sum</c>), not integer constants, so they are looked up in the library.
/// The library is loaded only when <see cref="Collectives.FromEnvironment"/> finds more than one rank; MPI.NET 1.4.0
/// (NuGet) was tried and binds Microsoft MPI (<c>msmpi.dll</c>, integer handles), so it cannot talk to Open MPI.
/// Large buffers go in chunks of at most 2²⁸ elements (MPI counts are 32-bit).
/// </summary>
public sealed unsafe class MpiCollective : ICollective
{
    private const int Success = 0;
    private const int Chunk = 1 << 28;
    private const int RtldNow = 0x2, RtldGlobal = 0x100;
    private static readonly IntPtr s_inPlace = 1; // Open MPI's MPI_IN_PLACE is ((void *) 1)

    private readonly IntPtr _comm, _float, _byte, _sum;
    private readonly delegate* unmanaged<IntPtr, IntPtr, int, IntPtr, IntPtr, IntPtr, int> _allreduce;
    private readonly delegate* unmanaged<IntPtr, int, IntPtr, int, IntPtr, int> _bcast;
    private readonly delegate* unmanaged<IntPtr, int> _barrier;
    private readonly delegate* unmanaged<IntPtr, int, int> _abort;
    private readonly delegate* unmanaged<int> _finalize;
    private bool _finalized;

    private MpiCollective(IntPtr lib, string path)
    {
        IntPtr Export(string name) => NativeLibrary.TryGetExport(lib, name, out var p) ? p
            : throw new DllNotFoundException($"{path} has no symbol '{name}': is it Open MPI's libmpi (Open MPI ≥ 1.7)? Set LDDM_LIBMPI to Open MPI's libmpi.so.");
        _comm = Export("ompi_mpi_comm_world");
        _float = Export("ompi_mpi_float");
        _byte = Export("ompi_mpi_byte");
        _sum = Export("ompi_mpi_op_sum");
        var init = (delegate* unmanaged<IntPtr, IntPtr, int>)Export("MPI_Init");
        var initialized = (delegate* unmanaged<int*, int>)Export("MPI_Initialized");
        var rank = (delegate* unmanaged<IntPtr, int*, int>)Export("MPI_Comm_rank");
        var size = (delegate* unmanaged<IntPtr, int*, int>)Export("MPI_Comm_size");
        var version = (delegate* unmanaged<byte*, int*, int>)Export("MPI_Get_library_version");
        _allreduce = (delegate* unmanaged<IntPtr, IntPtr, int, IntPtr, IntPtr, IntPtr, int>)Export("MPI_Allreduce");
        _bcast = (delegate* unmanaged<IntPtr, int, IntPtr, int, IntPtr, int>)Export("MPI_Bcast");
        _barrier = (delegate* unmanaged<IntPtr, int>)Export("MPI_Barrier");
        _abort = (delegate* unmanaged<IntPtr, int, int>)Export("MPI_Abort");
        _finalize = (delegate* unmanaged<int>)Export("MPI_Finalize");

        int flag = 0, r = 0, k = 0, length = 0;
        Check(initialized(&flag), "MPI_Initialized");
        if (flag == 0)
        {
            Check(init(IntPtr.Zero, IntPtr.Zero), "MPI_Init");
        }
        Check(rank(_comm, &r), "MPI_Comm_rank");
        Check(size(_comm, &k), "MPI_Comm_size");
        var text = new byte[256 + 1]; // MPI_MAX_LIBRARY_VERSION_STRING is 256 in Open MPI
        fixed (byte* p = text)
        {
            Check(version(p, &length), "MPI_Get_library_version");
        }
        string library = System.Text.Encoding.ASCII.GetString(text, 0, Math.Clamp(length, 0, 256)).Split(',', '\n')[0].Trim();
        Rank = r;
        Size = k;
        Name = $"{library} ({path}), {k} ranks";
    }

    public int Rank { get; }

    public int Size { get; }

    public string Name { get; }

    /// <summary>Loads libmpi (LDDM_LIBMPI, else libmpi.so.40, else libmpi.so) and calls MPI_Init.</summary>
    public static MpiCollective Initialize()
    {
        string? overridePath = Environment.GetEnvironmentVariable("LDDM_LIBMPI");
        string[] candidates = overridePath is { Length: > 0 } ? [overridePath] : ["libmpi.so.40", "libmpi.so"];
        var errors = new List<string>();
        foreach (string path in candidates)
        {
            // RTLD_GLOBAL: Open MPI's plugins (mca_*.so) resolve symbols of libmpi/libopen-pal in the global scope.
            IntPtr lib = dlopen(path, RtldNow | RtldGlobal);
            if (lib != IntPtr.Zero)
            {
                return new MpiCollective(lib, path);
            }
            errors.Add(Marshal.PtrToStringUTF8(dlerror()) ?? path);
        }
        throw new DllNotFoundException(
            "mpirun started this process with several ranks but Open MPI's libmpi could not be loaded (" + string.Join("; ", errors) +
            "). Install Open MPI (Debian: apt-get install openmpi-bin libopenmpi-dev) or set LDDM_LIBMPI to its libmpi.so.");
    }

    public void AllReduceSum(Span<float> data)
    {
        fixed (float* p = data)
        {
            for (int offset = 0; offset < data.Length; offset += Chunk)
            {
                int count = Math.Min(Chunk, data.Length - offset);
                Check(_allreduce(s_inPlace, (IntPtr)(p + offset), count, _float, _sum, _comm), "MPI_Allreduce");
            }
        }
    }

    public void Broadcast(Span<byte> data, int root)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(root);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(root, Size);
        fixed (byte* p = data)
        {
            for (int offset = 0; offset < data.Length; offset += Chunk)
            {
                int count = Math.Min(Chunk, data.Length - offset);
                Check(_bcast((IntPtr)(p + offset), count, _byte, root, _comm), "MPI_Bcast");
            }
        }
    }

    public void Barrier() => Check(_barrier(_comm), "MPI_Barrier");

    /// <summary>
    /// Ends the whole job with <paramref name="exitCode"/> (MPI_Abort on MPI_COMM_WORLD): call it when this rank
    /// failed, so the other ranks do not wait forever in their next collective.
    /// </summary>
    public void Abort(int exitCode)
    {
        _ = _abort(_comm, exitCode);
        Environment.Exit(exitCode); // MPI_Abort does not return on Open MPI; in case an implementation does
    }

    public void Dispose()
    {
        if (!_finalized)
        {
            _finalized = true;
            Check(_finalize(), "MPI_Finalize");
        }
    }

    private static void Check(int code, string call)
    {
        // Open MPI's default error handler (MPI_ERRORS_ARE_FATAL) ends the job first; this covers any other handler.
        if (code != Success)
        {
            throw new InvalidOperationException($"{call} failed with MPI error code {code}.");
        }
    }

    [DllImport("libc", EntryPoint = "dlopen")]
    private static extern IntPtr dlopen([MarshalAs(UnmanagedType.LPUTF8Str)] string file, int mode);

    [DllImport("libc", EntryPoint = "dlerror")]
    private static extern IntPtr dlerror();
}

/// <summary>Picks the collective this process runs under.</summary>
public static class Collectives
{
    /// <summary>
    /// <see cref="MpiCollective"/> when Open MPI's <c>mpirun</c> started this process as one of K &gt; 1 ranks
    /// (OMPI_COMM_WORLD_SIZE), else <see cref="SingleProcess"/>: without mpirun, or with K = 1, no MPI library is loaded.
    /// </summary>
    public static ICollective FromEnvironment()
    {
        string? size = Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE");
        if (size is null || !int.TryParse(size, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int k) || k <= 1)
        {
            return SingleProcess.Instance;
        }
        return MpiCollective.Initialize();
    }

    /// <summary>Ranks on this machine (OMPI_COMM_WORLD_LOCAL_SIZE; 1 outside mpirun): CPU threads are shared among them.</summary>
    public static int LocalRanks() =>
        int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_SIZE"), System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out int n) && n > 0 ? n : 1;

    /// <summary>This process's rank on its machine (OMPI_COMM_WORLD_LOCAL_RANK; 0 outside mpirun).</summary>
    public static int LocalRank() =>
        int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_RANK"), System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out int r) && r >= 0 ? r : 0;
}
