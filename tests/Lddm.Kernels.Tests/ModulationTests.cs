using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

public sealed class ModulationTests
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void ModulateForward_matches_the_reference_and_writes_every_element(SmallDim tokens, SmallDim hidden, bool inPlace, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int batch = 1 + rng.Next(3);
            var x = Numerics.RandomFloats(rng, batch * tokens * hidden);
            var shift = Numerics.RandomFloats(rng, batch * hidden);
            var scale = Numerics.RandomFloats(rng, batch * hidden);
            using var dx = backend.Upload<float>(x);
            using var dshift = backend.Upload<float>(shift);
            using var dscale = backend.Upload<float>(scale);
            using var poisoned = Numerics.Poisoned(backend, x.Length);
            var y = inPlace ? dx : poisoned;
            backend.ModulateForward(dx, dshift, dscale, batch, tokens, hidden, y);
            Numerics.AssertClose(ModulationReference.ModulateForward(x, shift, scale, batch, tokens, hidden), y.ToArray(),
                1e-6, $"ModulateForward on {backend.Name}, seed {seed}, ({batch}, {tokens}, {hidden}), in place {inPlace}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void ModulateBackward_accumulates_into_prefilled_gradients_like_the_reference(SmallDim tokens, SmallDim hidden, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int batch = 1 + rng.Next(3);
            CheckModulateBackward(backend, rng, batch, tokens, hidden, mask: rng.Next(8), $"seed {seed}");
        }
    }

    /// <summary>
    /// The write modes (a first writer's fresh gradient): the activation-sized gradients start as NaN, so a kernel
    /// that reads them instead of writing fails; the result is the reference from zeros, and on the CPU the same bits
    /// as accumulating into a zero-filled buffer.
    /// </summary>
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void Backward_kernels_write_unread_gradients_when_asked(SmallDim tokens, SmallDim hidden, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int batch = 1 + rng.Next(3), mask = rng.Next(8);
            bool writeA = rng.Next(2) == 0, writeB = rng.Next(2) == 0;
            string what = $"seed {seed}, write {writeA}/{writeB}";
            CheckModulateBackward(backend, rng, batch, tokens, hidden, mask | 1, what, writeDx: writeA);
            CheckGatedResidualBackward(backend, rng, batch, tokens, hidden, mask | 5, what, writeDresidual: writeA, writeDx: writeB);
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void GatedResidualForward_matches_the_reference_also_in_place(SmallDim tokens, SmallDim hidden, bool inPlace, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int batch = 1 + rng.Next(3);
            var residual = Numerics.RandomFloats(rng, batch * tokens * hidden);
            var gate = Numerics.RandomFloats(rng, batch * hidden);
            var x = Numerics.RandomFloats(rng, residual.Length);
            using var dres = backend.Upload<float>(residual);
            using var dgate = backend.Upload<float>(gate);
            using var dx = backend.Upload<float>(x);
            using var poisoned = Numerics.Poisoned(backend, x.Length);
            var y = inPlace ? dres : poisoned;
            backend.GatedResidualForward(dres, dgate, dx, batch, tokens, hidden, y);
            Numerics.AssertClose(ModulationReference.GatedResidualForward(residual, gate, x, batch, tokens, hidden),
                y.ToArray(), 1e-6, $"GatedResidualForward on {backend.Name}, seed {seed}, ({batch}, {tokens}, {hidden}), in place {inPlace}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void GatedResidualBackward_accumulates_into_prefilled_gradients_like_the_reference(SmallDim tokens, SmallDim hidden, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int batch = 1 + rng.Next(3);
            CheckGatedResidualBackward(backend, rng, batch, tokens, hidden, mask: rng.Next(8), $"seed {seed}");
        }
    }

    [Theory]
    [InlineData(255)]
    [InlineData(256)]
    [InlineData(257)]
    [InlineData(529)]
    public void Backward_kernels_are_right_when_columns_are_split_into_blocks(int hidden)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(hidden);
            for (int batch = 1; batch <= 3; batch++)
            {
                // batch < threads splits each sequence's columns over several work items on the CPU backend.
                CheckModulateBackward(backend, rng, batch, tokens: 5, hidden, mask: 7, $"hidden {hidden}");
                CheckGatedResidualBackward(backend, rng, batch, tokens: 5, hidden, mask: 7, $"hidden {hidden}");
            }
        }
    }

    [Property(MaxTest = 10)]
    public void Reference_backwards_match_central_differences_of_the_reference_forwards(int seed)
    {
        var rng = new Random(seed);
        const int batch = 2, tokens = 3, hidden = 4;
        var x = Numerics.RandomFloats(rng, batch * tokens * hidden);
        var a = Numerics.RandomFloats(rng, batch * hidden);
        var c = Numerics.RandomFloats(rng, batch * hidden);
        var r = Numerics.RandomFloats(rng, x.Length);
        var w = Numerics.RandomFloats(rng, x.Length); // L = Σ w·y, so dL/dy = w
        var zeroAct = new float[x.Length];
        var zeroVec = new float[a.Length];
        var (gx, gshift, gscale) = ModulationReference.ModulateBackward(x, c, w, batch, tokens, hidden, zeroAct, zeroVec, zeroVec);
        FiniteDifference.Check(x, gx, v => Dot(w, ModulationReference.ModulateForward(v, a, c, batch, tokens, hidden)), "modulate dx");
        FiniteDifference.Check(a, gshift, v => Dot(w, ModulationReference.ModulateForward(x, v, c, batch, tokens, hidden)), "modulate dshift");
        FiniteDifference.Check(c, gscale, v => Dot(w, ModulationReference.ModulateForward(x, a, v, batch, tokens, hidden)), "modulate dscale");
        var (gr, gg, gx2) = ModulationReference.GatedResidualBackward(a, x, w, batch, tokens, hidden, zeroAct, zeroVec, zeroAct);
        FiniteDifference.Check(r, gr, v => Dot(w, ModulationReference.GatedResidualForward(v, a, x, batch, tokens, hidden)), "gated dresidual");
        FiniteDifference.Check(a, gg, v => Dot(w, ModulationReference.GatedResidualForward(r, v, x, batch, tokens, hidden)), "gated dgate");
        FiniteDifference.Check(x, gx2, v => Dot(w, ModulationReference.GatedResidualForward(r, a, v, batch, tokens, hidden)), "gated dx");
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void ModulateForward_rejects_a_shift_of_the_wrong_length_naming_both_shapes(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = backend.Allocate<float>(2 * 3 * 4);
        using var shift = backend.Allocate<float>(4);
        using var scale = backend.Allocate<float>(8);
        using var y = backend.Allocate<float>(24);
        var e = Assert.Throws<ArgumentException>(() => backend.ModulateForward(x, shift, scale, 2, 3, 4, y));
        Assert.Contains("ModulateForward: 'shift' has 4 elements", e.Message);
        Assert.Contains("(batch 2, hidden 4) needs 8", e.Message);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Backward_kernels_reject_a_gradient_of_the_wrong_shape_and_non_positive_sizes(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = backend.Allocate<float>(24);
        using var v = backend.Allocate<float>(8);
        using var dy = backend.Allocate<float>(24);
        using var bad = backend.Allocate<float>(23);
        var e = Assert.Throws<ArgumentException>(() => backend.ModulateBackward(x, v, dy, 2, 3, 4, bad, null, null));
        Assert.Contains("'dx' has 23 elements but shape (batch 2, tokens 3, hidden 4) needs 24", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.GatedResidualBackward(v, x, dy, 2, 3, 4, null, bad, null));
        Assert.Contains("'dgate' has 23 elements but shape (batch 2, hidden 4) needs 8", e.Message);
        var z = Assert.Throws<ArgumentOutOfRangeException>(() => backend.GatedResidualForward(x, v, dy, 0, 3, 4, x));
        Assert.Contains("'batch' must be positive but was 0", z.Message);
        z = Assert.Throws<ArgumentOutOfRangeException>(() => backend.ModulateBackward(x, v, dy, 2, 3, -4, null, null, null));
        Assert.Contains("'hidden' must be positive but was -4", z.Message);
    }

    private static void CheckModulateBackward(Backend backend, Random rng, int batch, int tokens, int hidden, int mask, string what,
        bool writeDx = false)
    {
        int n = batch * tokens * hidden, m = batch * hidden;
        var x = Numerics.RandomFloats(rng, n);
        var scale = Numerics.RandomFloats(rng, m);
        var dy = Numerics.RandomFloats(rng, n);
        var dx0 = writeDx ? new float[n] : Numerics.RandomFloats(rng, n);
        var dshift0 = Numerics.RandomFloats(rng, m);
        var dscale0 = Numerics.RandomFloats(rng, m);
        using var bx = backend.Upload<float>(x);
        using var bscale = backend.Upload<float>(scale);
        using var bdy = backend.Upload<float>(dy);
        // A written gradient starts as NaN: reading it would show.
        using var bdx = writeDx ? Numerics.Poisoned(backend, n) : backend.Upload<float>(dx0);
        using var bdshift = backend.Upload<float>(dshift0);
        using var bdscale = backend.Upload<float>(dscale0);
        backend.ModulateBackward(bx, bscale, bdy, batch, tokens, hidden,
            (mask & 1) != 0 ? bdx : null, (mask & 2) != 0 ? bdshift : null, (mask & 4) != 0 ? bdscale : null, writeDx);
        var (ex, eshift, escale) = ModulationReference.ModulateBackward(x, scale, dy, batch, tokens, hidden, dx0, dshift0, dscale0);
        string context = $"ModulateBackward on {backend.Name}, {what}, ({batch}, {tokens}, {hidden}), grads mask {mask}, write dx {writeDx}";
        if (writeDx && (mask & 1) != 0 && backend is Cpu.CpuBackend)
        {
            // The same bits as accumulating into zeros.
            using var zeros = backend.Full(n, 0f);
            backend.ModulateBackward(bx, bscale, bdy, batch, tokens, hidden, zeros, null, null);
            Numerics.AssertBits(zeros.ToArray(), bdx.ToArray(), context + ", dx written vs added to zeros");
        }
        double tol = Numerics.Tolerance(tokens);
        Numerics.AssertClose((mask & 1) != 0 ? ex : Widen(dx0), bdx.ToArray(), 1e-6, context + ", dx");
        Numerics.AssertClose((mask & 2) != 0 ? eshift : Widen(dshift0), bdshift.ToArray(), tol, context + ", dshift");
        Numerics.AssertClose((mask & 4) != 0 ? escale : Widen(dscale0), bdscale.ToArray(), tol, context + ", dscale");
    }

    private static void CheckGatedResidualBackward(Backend backend, Random rng, int batch, int tokens, int hidden, int mask, string what,
        bool writeDresidual = false, bool writeDx = false)
    {
        int n = batch * tokens * hidden, m = batch * hidden;
        var gate = Numerics.RandomFloats(rng, m);
        var x = Numerics.RandomFloats(rng, n);
        var dy = Numerics.RandomFloats(rng, n);
        var dres0 = writeDresidual ? new float[n] : Numerics.RandomFloats(rng, n);
        var dgate0 = Numerics.RandomFloats(rng, m);
        var dx0 = writeDx ? new float[n] : Numerics.RandomFloats(rng, n);
        using var bgate = backend.Upload<float>(gate);
        using var bx = backend.Upload<float>(x);
        using var bdy = backend.Upload<float>(dy);
        // A written gradient starts as NaN: reading it would show.
        using var bdres = writeDresidual ? Numerics.Poisoned(backend, n) : backend.Upload<float>(dres0);
        using var bdgate = backend.Upload<float>(dgate0);
        using var bdx = writeDx ? Numerics.Poisoned(backend, n) : backend.Upload<float>(dx0);
        backend.GatedResidualBackward(bgate, bx, bdy, batch, tokens, hidden,
            (mask & 1) != 0 ? bdres : null, (mask & 2) != 0 ? bdgate : null, (mask & 4) != 0 ? bdx : null, writeDresidual, writeDx);
        var (eres, egate, ex) = ModulationReference.GatedResidualBackward(gate, x, dy, batch, tokens, hidden, dres0, dgate0, dx0);
        string context = $"GatedResidualBackward on {backend.Name}, {what}, ({batch}, {tokens}, {hidden}), grads mask {mask}, " +
            $"write dresidual {writeDresidual}, dx {writeDx}";
        if ((writeDresidual || writeDx) && (mask & 5) == 5 && backend is Cpu.CpuBackend)
        {
            // The same bits as accumulating into zeros.
            using var zr = backend.Full(n, 0f);
            using var zx = backend.Full(n, 0f);
            backend.GatedResidualBackward(bgate, bx, bdy, batch, tokens, hidden, zr, null, zx);
            if (writeDresidual)
            {
                Numerics.AssertBits(zr.ToArray(), bdres.ToArray(), context + ", dresidual written vs added to zeros");
            }
            if (writeDx)
            {
                Numerics.AssertBits(zx.ToArray(), bdx.ToArray(), context + ", dx written vs added to zeros");
            }
        }
        Numerics.AssertClose((mask & 1) != 0 ? eres : Widen(dres0), bdres.ToArray(), 1e-6, context + ", dresidual");
        Numerics.AssertClose((mask & 2) != 0 ? egate : Widen(dgate0), bdgate.ToArray(), Numerics.Tolerance(tokens), context + ", dgate");
        Numerics.AssertClose((mask & 4) != 0 ? ex : Widen(dx0), bdx.ToArray(), 1e-6, context + ", dx");
    }

    private static double[] Widen(float[] values) => Array.ConvertAll(values, v => (double)v);

    private static double Dot(float[] w, double[] y)
    {
        double s = 0;
        for (int i = 0; i < w.Length; i++)
        {
            s += w[i] * y[i];
        }
        return s;
    }

    /// <summary>Float64 central differences of a scalar function of a float vector, compared with an analytic gradient.</summary>
    private static class FiniteDifference
    {
        public static void Check(float[] at, double[] gradient, Func<float[], double> f, string what, double h = 1e-2)
        {
            // Inputs are float, so perturb by a float-exact h; the functions here are at most quadratic per input,
            // so central differences are exact up to float64 rounding.
            for (int i = 0; i < at.Length; i++)
            {
                var v = (float[])at.Clone();
                float x0 = v[i];
                v[i] = x0 + (float)h;
                double up = f(v);
                v[i] = x0 - (float)h;
                double down = f(v);
                double hu = (double)(x0 + (float)h) - (x0 - (float)h);
                double numeric = (up - down) / hu;
                if (Math.Abs(numeric - gradient[i]) > 1e-6 * (1 + Math.Abs(numeric)))
                {
                    throw new Xunit.Sdk.XunitException($"{what}: index {i}: analytic {gradient[i]:R}, central difference {numeric:R}.");
                }
            }
        }
    }
}
