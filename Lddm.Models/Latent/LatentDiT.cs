using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// SEQ's latent prior network (§3.1): latent (B, P, d) → per-patch Linear(d, h) → <see cref="DiTBlock"/>s (RoPE over
/// the P patches, adaLN-zero from TimeEmb(t)) → <see cref="FinalLayer"/> to d (zero-initialised: a fresh prior
/// predicts zero) → (B, P, d).
/// </summary>
public sealed class LatentDiT : Module
{
    private readonly DiTBlock[] _blocks;

    public LatentDiT(Backend backend, LatentDiTConfig config)
        : base(backend)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        PatchIn = AddModule("patch_in", new Linear(backend, config.PatchDim, config.Hidden));
        Time = AddModule("time", new TimestepEmbedding(backend, config.CondDim));
        var blocks = AddModule("blocks", new ModuleList(backend));
        _blocks = [.. Enumerable.Range(0, config.Layers).Select(_ => blocks.Add(new DiTBlock(backend, config.Block)))];
        Final = AddModule("final", new FinalLayer(backend, config.Hidden, config.CondDim, config.PatchDim));
    }

    public LatentDiTConfig Config { get; }

    /// <summary>Per-patch input projection d → h.</summary>
    public Linear PatchIn { get; }

    public TimestepEmbedding Time { get; }

    public IReadOnlyList<DiTBlock> Blocks => _blocks;

    public FinalLayer Final { get; }

    /// <summary>latent (B, P, d), t (B) → (B, P, d).</summary>
    public Tensor Forward(Tensor latent, ReadOnlySpan<float> t, DropoutRng? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(latent);
        if (latent.Shape.Rank != 3 || latent.Shape[0] != t.Length || latent.Shape[1] != Config.Patches || latent.Shape[2] != Config.PatchDim)
        {
            throw new ArgumentException(
                $"{nameof(LatentDiT)}: latent must be ({t.Length}, {Config.Patches}, {Config.PatchDim}) (B = the number of times) but has shape {latent.Shape}.",
                nameof(latent));
        }
        var c = Time.Forward(t);
        var x = PatchIn.Forward(latent);
        foreach (var block in _blocks)
        {
            x = block.Forward(x, c, dropout);
        }
        return Final.Forward(x, c);
    }
}
