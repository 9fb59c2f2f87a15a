using FsCheck.Xunit;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Training.Optim;
using Xunit;

namespace Lddm.Training.Tests.Optim;

/// <summary>
/// The flat path (weights and gradients in a <see cref="ParameterArena"/>, AdamW/EMA/norm/clip as one launch over it)
/// against the per-tensor path on a twin module: the same bits in the weights, moments, shadow and gradient norm,
/// including steps where a parameter gets no gradient (then it must stay untouched, moments too).
/// </summary>
public sealed class FlatArenaTests
{
    private sealed class Many : Module
    {
        public Many(Backend backend, int[][] shapes) : base(backend)
        {
            Ps = [.. shapes.Select((s, i) => AddParameter($"p{i}", Init.Normal(1f), s))];
        }

        public Parameter[] Ps { get; }
    }

    private sealed class Run : IDisposable
    {
        public Run(Backend backend, int[][] shapes, bool flat)
        {
            Model = new Many(backend, shapes);
            Model.Initialize(7);
            Arena = flat ? ParameterArena.TryCreate(Model.Ps) ?? throw new InvalidOperationException("no arena") : null;
            Adam = new AdamW(Model.NamedParameters(), new AdamWConfig(WeightDecay: 0.03));
            Ema = new Ema(Model.NamedParameters(), 0.9);
            Clipper = new GradientClipper(backend, 0.5);
        }

        public Many Model { get; }
        public ParameterArena? Arena { get; }
        public AdamW Adam { get; }
        public Ema Ema { get; }
        public GradientClipper Clipper { get; }

        public void Step(float[][] grads, bool[] has, double lr)
        {
            Model.ZeroGrad();
            for (int i = 0; i < grads.Length; i++)
            {
                if (has[i])
                {
                    using var tape = Tape.Begin();
                    ScaleOp.Apply(Model.Ps[i], 1f).Backward(grads[i]);
                }
            }
            Clipper.Clip(Model.Ps);
            Adam.Step(lr);
            Ema.Update();
        }

        public void Dispose()
        {
            Adam.Dispose();
            Ema.Dispose();
            Clipper.Dispose();
            Model.Dispose();
            Arena?.Dispose();
        }
    }

    [Property(MaxTest = 6)]
    public void Flat_updates_equal_per_tensor_updates_bit_for_bit(int seed, bool skipSome)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int count = 2 + rng.Next(5);
            var shapes = Enumerable.Range(0, count).Select(_ => rng.Next(2) == 0
                ? new[] { 1 + rng.Next(150) } : [1 + rng.Next(9), 1 + rng.Next(40)]).ToArray();
            using var flat = new Run(backend, shapes, flat: true);
            using var each = new Run(backend, shapes, flat: false);
            Assert.True(flat.Model.Ps.All(p => p.Data.IsSlice) && each.Model.Ps.All(p => !p.Data.IsSlice));
            for (int t = 1; t <= 4; t++)
            {
                var grads = shapes.Select(s => Numerics.RandomFloats(rng, s.Aggregate(1, (a, b) => a * b), 2f)).ToArray();
                // Step 2 and 4 leave one parameter without a gradient when asked: the per-tensor fallback.
                var has = shapes.Select((_, i) => !(skipSome && t % 2 == 0 && i == t % count)).ToArray();
                flat.Step(grads, has, 1e-2 * t);
                each.Step(grads, has, 1e-2 * t);
                string context = $"{backend.Name}, seed {seed}, step {t}";
                Assert.Equal(each.Clipper.LastNorm, flat.Clipper.LastNorm);
                for (int i = 0; i < count; i++)
                {
                    Assert.True(each.Model.Ps[i].ToArray().AsSpan().SequenceEqual(flat.Model.Ps[i].ToArray()), $"weights p{i}, {context}");
                }
                foreach (var (a, b) in each.Adam.State().Zip(flat.Adam.State()))
                {
                    Assert.True(a.M.ToArray().AsSpan().SequenceEqual(b.M.ToArray()) && a.V.ToArray().AsSpan().SequenceEqual(b.V.ToArray()),
                        $"moments of {a.Name}, {context}");
                }
                foreach (var (a, b) in each.Ema.State().Zip(flat.Ema.State()))
                {
                    Assert.True(a.Shadow.ToArray().AsSpan().SequenceEqual(b.Shadow.ToArray()), $"EMA of {a.Name}, {context}");
                }
            }
            flat.Ema.SwapInto();
            each.Ema.SwapInto();
            for (int i = 0; i < count; i++)
            {
                Assert.True(each.Model.Ps[i].ToArray().AsSpan().SequenceEqual(flat.Model.Ps[i].ToArray()), $"swapped p{i} on {backend.Name}");
            }
            // The padding between slices stays zero in every arena buffer.
            var arena = flat.Arena!;
            var data = arena.Data.ToArray();
            var inside = new bool[arena.Length];
            for (int i = 0; i < count; i++)
            {
                Array.Fill(inside, true, arena.Offset(i), flat.Model.Ps[i].Shape.Elements);
            }
            Assert.All(Enumerable.Range(0, arena.Length).Where(j => !inside[j]), j => Assert.Equal(0f, data[j]));
        }
    }

    [Fact]
    public void An_arena_refuses_repeated_or_already_placed_parameters()
    {
        var backend = TestBackends.Cpu;
        using var model = new Many(backend, [[3], [4]]);
        Assert.Null(ParameterArena.TryCreate([model.Ps[0], model.Ps[0]]));
        using var arena = ParameterArena.TryCreate(model.Ps);
        Assert.NotNull(arena);
        Assert.Null(ParameterArena.TryCreate(model.Ps));
        Assert.Same(arena, model.Ps[1].Arena);
    }
}
