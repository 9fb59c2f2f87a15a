using Lddm.Autograd;
using Lddm.Training.Data;
using Lddm.Training.Mdlm;
using Lddm.Training.Seq;

namespace Lddm.Training.Evaluation;

/// <summary>
/// Where a SEQ model's sawtooth samples lose coverage: in the latent prior or in the decoder.
/// <paramref name="PriorPhase"/>: the coverage test of the true phases of the real sequences whose encoder latents are
/// nearest to the prior's ŷ₀ (a prior that fits covers the phases as the data do).
/// <paramref name="PriorDistance"/> / <paramref name="RealDistance"/>: mean Euclidean distance from a prior sample / a
/// held-out real latent to its nearest reference latent (a ratio well above 1 = the prior leaves the encoder's manifold).
/// <paramref name="Oracle"/>: the sawtooth metrics of sequences decoded from held-out real latents (the decoder alone).
/// </summary>
public sealed record SeqPriorReport(CoverageTest PriorPhase, double PriorDistance, double RealDistance, IReadOnlyList<SweepRow> Oracle);

/// <summary>Diagnostics of SEQ's latent prior on binary sawtooth (issue #11, point 4).</summary>
public static class SeqPriorDiagnostics
{
    /// <summary>
    /// <see cref="SawtoothEvaluation.Count"/> prior samples and as many held-out real latents at N = <paramref name="steps"/>
    /// (the prior's N_lat as the model's config says), against <paramref name="references"/> encoded real sequences.
    /// The model should hold its EMA weights, in eval mode.
    /// </summary>
    public static SeqPriorReport Sawtooth(SeqModel model, SawtoothData data, SawtoothEvaluation evaluation, int steps, int batch,
        ulong seed, int references = 4096)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(evaluation);
        var encoder = model.Encoder ?? throw new ArgumentException("SEQ prior diagnostics need a latent encoder (not all_zero_latent).", nameof(model));
        int count = evaluation.Count, length = data.Length, dim = encoder.Patches * encoder.PatchDim;
        var (reference, referenceShift) = Encode(model, data, references, seed ^ 0x2EF5UL, batch);
        var (heldOut, _) = Encode(model, data, count, seed ^ 0x4E1DUL, batch);

        var prior = new float[count * dim];
        for (int first = 0, k = 0; first < count; first += batch, k++)
        {
            int size = Math.Min(batch, count - first);
            var run = model.Sampler.Run(model.Prior, model.Decoder, size, length, steps, unchecked(seed + (ulong)k));
            run.Latent.CopyTo(prior, first * dim);
        }
        var phases = new double[count];
        var priorDistance = new double[count];
        var realDistance = new double[count];
        int saws = data.Generator.Config.NumSaws;
        Parallel.For(0, count, i =>
        {
            var (j, d) = Nearest(prior.AsSpan(i * dim, dim), reference, dim);
            double phi = referenceShift[j] * saws;
            phases[i] = phi - Math.Floor(phi);
            priorDistance[i] = d;
            realDistance[i] = Nearest(heldOut.AsSpan(i * dim, dim), reference, dim).Distance;
        });

        // The decoder alone: the token chain on held-out real latents.
        var sampler = new MdlmSampler(model.Options.Tokens.CreateSchedule());
        var tokens = new int[count * length];
        long nfe = 0;
        int batches = 0;
        for (int first = 0; first < count; first += batch, batches++)
        {
            int size = Math.Min(batch, count - first);
            using var y = Tensor.FromArray(model.Decoder.Backend, heldOut.AsSpan(first * dim, size * dim).ToArray(), size, encoder.Patches, encoder.PatchDim);
            var tX = new float[size];
            var tY = new float[size];
            bool timed = model.Options.Tokens.TimeConditioning;
            var run = sampler.RunChain(model.Decoder.Backend, model.Decoder.Config.Vocab, (x, t) =>
            {
                Array.Fill(tX, timed ? (float)t : 0f);
                return model.Decoder.Forward(x, y, tX, tY).Logits;
            }, size, length, steps, unchecked(seed + 0x0AC1E + (ulong)batches), 1f, timed);
            run.Tokens.CopyTo(tokens, first * length);
            nfe += run.Nfe;
        }
        var oracle = evaluation.Score(tokens, "oracle", steps, (int)Math.Round((double)nfe / batches));
        return new SeqPriorReport(evaluation.Coverage.Test(phases), priorDistance.Average(), realDistance.Average(), oracle);
    }

    private static (float[] Latents, double[] Shifts) Encode(SeqModel model, SawtoothData data, int count, ulong seed, int batch)
    {
        var encoder = model.Encoder!;
        int length = data.Length, dim = encoder.Patches * encoder.PatchDim;
        var latents = new float[count * dim];
        var shifts = new double[count];
        for (int first = 0; first < count; first += batch)
        {
            int size = Math.Min(batch, count - first);
            var tokens = new int[size * length];
            data.Generator.Generate(seed, first, size, tokens, shifts.AsSpan(first, size));
            using var tape = Tape.Begin();
            using var off = Grad.Off();
            encoder.Encode(IntTensor.FromArray(model.Decoder.Backend, tokens, size, length)).ToArray().CopyTo(latents, first * dim);
        }
        return (latents, shifts);
    }

    private static (int Index, double Distance) Nearest(ReadOnlySpan<float> y, float[] reference, int dim)
    {
        int best = 0;
        double bestD = double.PositiveInfinity;
        for (int j = 0; j < reference.Length / dim; j++)
        {
            double d = 0;
            for (int k = 0; k < dim; k++)
            {
                double e = y[k] - reference[j * dim + k];
                d += e * e;
            }
            if (d < bestD)
            {
                (best, bestD) = (j, d);
            }
        }
        return (best, Math.Sqrt(bestD));
    }
}
