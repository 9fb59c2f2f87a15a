using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>
/// Fused attention, B = 2, H = 8, D = 64, T = 128…1024 (a DiT's attention at sequence lengths we train on; on a
/// GPU up to T = 4096).
/// FLOPs: forward 4·B·H·T²·D (QKᵀ and PV), backward 2.5× that (five T²·D matmuls, counted as in FlashAttention);
/// causal rows count half. Validated against the float64 reference on a small shape of every mode first.
/// </summary>
internal sealed class AttentionQuickBench : IQuickBench
{
    public int Order => 40;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var backend = context.Backend;
        bool sim = backend.Kind == BackendKind.IlgpuCpu;
        foreach (var mask in new[] { AttentionMask.None, AttentionMask.Causal, AttentionMask.KeyPadding })
        {
            Validate(backend, sim ? 17 : 100, sim ? 8 : 64, mask);
        }
        int b = sim ? 1 : 2, h = sim ? 1 : 8, d = sim ? 16 : 64;
        bool gpu = backend.Kind is BackendKind.Cuda or BackendKind.OpenCL;
        int[] lengths = sim ? [32] : gpu ? [128, 512, 1024, 4096] : [128, 256, 512, 1024];
        string kind = backend.Kind.ToString().ToLowerInvariant();
        foreach (int t in lengths)
        {
            foreach (var mask in new[] { AttentionMask.None, AttentionMask.Causal })
            {
                if (mask == AttentionMask.Causal && t != lengths[^1])
                {
                    continue;
                }
                using var s = new Setup(backend, b, h, t, d, seed: t);
                double flops = 4.0 * b * h * t * t * d * (mask == AttentionMask.Causal ? 0.5 : 1);
                string shape = $"{b}x{h}x{t}x{d}{(mask == AttentionMask.Causal ? " causal" : "")}";
                double fwd = QuickBench.Time(backend, () => s.Forward(mask), context.SecondsPerKernel);
                yield return new BenchRow("attention fwd", shape, kind, fwd, flops, ComputeBound: true);
                double both = QuickBench.Time(backend, () =>
                {
                    s.Forward(mask);
                    s.Backward(mask);
                }, context.SecondsPerKernel);
                yield return new BenchRow("attention fwd+bwd", shape, kind, both, 3.5 * flops, ComputeBound: true);
            }
        }
    }

    private static void Validate(Backend backend, int t, int d, AttentionMask mask)
    {
        const int b = 2, h = 2;
        using var s = new Setup(backend, b, h, t, d, seed: 5, lengths: mask == AttentionMask.KeyPadding ? [t, t / 3] : null);
        s.Forward(mask);
        var (o, _) = AttentionReference.Forward(s.HostQ, s.HostK, s.HostV, s.HostLengths, b, h, t, d, mask);
        var got = s.O.ToArray();
        for (int i = 0; i < got.Length; i++)
        {
            if (!(Math.Abs(got[i] - o[i]) <= 1e-4 * (1 + Math.Abs(o[i]))))
            {
                throw new InvalidOperationException(
                    $"AttentionForward ({mask}) is wrong at {i}: {got[i]} vs {o[i]}; not timing it.");
            }
        }
    }

    private sealed class Setup : IDisposable
    {
        private readonly Backend _backend;
        private readonly int _b, _h, _t, _d;
        private readonly DeviceBuffer<float> _q, _k, _v, _lse, _dO, _dq, _dk, _dv;
        private readonly DeviceBuffer<int>? _lengths;

        public Setup(Backend backend, int b, int h, int t, int d, int seed, int[]? lengths = null)
        {
            (_backend, _b, _h, _t, _d) = (backend, b, h, t, d);
            var rng = new Random(seed);
            int n = b * h * t * d;
            float[] Rand() => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            (HostQ, HostK, HostV, HostLengths) = (Rand(), Rand(), Rand(), lengths);
            _q = backend.Upload<float>(HostQ);
            _k = backend.Upload<float>(HostK);
            _v = backend.Upload<float>(HostV);
            _dO = backend.Upload<float>(Rand());
            O = backend.Allocate<float>(n);
            _lse = backend.Allocate<float>(b * h * t);
            _dq = backend.Full(n, 0f);
            _dk = backend.Full(n, 0f);
            _dv = backend.Full(n, 0f);
            _lengths = lengths is null ? null : backend.Upload<int>(lengths);
        }

        public float[] HostQ { get; }
        public float[] HostK { get; }
        public float[] HostV { get; }
        public int[]? HostLengths { get; }
        public DeviceBuffer<float> O { get; }

        public void Forward(AttentionMask mask) =>
            _backend.AttentionForward(_q, _k, _v, Lengths(mask), _b, _h, _t, _d, mask, O, _lse);

        public void Backward(AttentionMask mask) =>
            _backend.AttentionBackward(_q, _k, _v, O, _lse, _dO, Lengths(mask), _b, _h, _t, _d, mask, _dq, _dk, _dv);

        private DeviceBuffer<int>? Lengths(AttentionMask mask) => (mask & AttentionMask.KeyPadding) != 0 ? _lengths : null;

        public void Dispose()
        {
            foreach (var buffer in new[] { _q, _k, _v, O, _lse, _dO, _dq, _dk, _dv })
            {
                buffer.Dispose();
            }
            _lengths?.Dispose();
        }
    }
}
