using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Lddm.Training.Runs;

/// <summary>
/// Everything a training run needs, with defaults that train a small character-level MDLM on the bundled
/// Moby-Dick text in a few minutes on a 2-core CPU. Saved (resolved) in every checkpoint. JSON keys are
/// snake_case; <see cref="WithOverrides"/> applies <c>key=value</c> pairs and rejects unknown keys.
/// </summary>
public sealed record TrainConfig
{
    public string Model { get; init; } = "mdlm";
    public string Data { get; init; } = "text";
    /// <summary>moby-dick (bundled), sotu (scripts/fetch-corpus.sh), or the path of the user's own UTF-8 text file or
    /// folder of .txt files (see <see cref="Data.Text.OwnCorpus"/>).</summary>
    public string Corpus { get; init; } = "moby-dick";
    public string Preset { get; init; } = "small";
    public int Length { get; init; } = 64;
    public int Batch { get; init; } = 32;
    public int Steps { get; init; } = 600;
    public int GradAccumulation { get; init; } = 1;
    public double LearningRate { get; init; } = 1e-3;
    public int WarmupSteps { get; init; } = 100;
    public string Decay { get; init; } = "constant";
    public double WeightDecay { get; init; }
    public double GradClip { get; init; } = 1.0;
    public double EmaDecay { get; init; } = 0.99;
    public double Dropout { get; init; }
    public bool ElboWeighting { get; init; } = true;
    public bool TimeConditioning { get; init; }
    public string MaskSchedule { get; init; } = "loglinear";
    public int LogEvery { get; init; } = 25;
    public int EvalEvery { get; init; } = 200;
    public int EvalSequences { get; init; } = 64;
    public int CheckpointEvery { get; init; } = 200;
    public int SawtoothSaws { get; init; } = 2;
    public double SawtoothScale { get; init; } = 0.01;
    public ulong Seed { get; init; } = 1;

    // ---- LDDM (FUJI / SEQ): the latent channel, digest §1.3–§5. Ignored by mdlm and ar. ----
    /// <summary>SEQ and FUJI: 0 = stage 1 then stage 2 in one run (steps split by stage1_fraction; `lddm train` splits it),
    /// 1 or 2 = that stage only. FUJI: −1 = one joint stage (the encoder trained by both losses from step 0, the
    /// pre-two-stage FUJI kept as an ablation); a FujiModel built directly with stage 0 trains that way too.</summary>
    public int Stage { get; init; }
    public double Stage1Fraction { get; init; } = 0.5;
    /// <summary>SEQ/FUJI stage 2: the stage-1 checkpoint directory to start from ("" = none); FUJI stage 2 with a learned
    /// encoder also freezes that checkpoint's encoder (so it needs one).</summary>
    public string Init { get; init; } = "";
    /// <summary>P latent patches of d dims each (D = P·d).</summary>
    public int LatentPatches { get; init; } = 1;
    public int LatentDim { get; init; } = 32;
    /// <summary>Per-patch L2 normalisation of the encoder output.</summary>
    public bool LatentNormalize { get; init; }
    /// <summary>ā²_t shape: sqrt, cosine, linear or poly (latent_power).</summary>
    public string LatentSchedule { get; init; } = "sqrt";
    public double LatentPower { get; init; } = 2;
    /// <summary>What the latent head predicts: y0 or eps.</summary>
    public string LatentPrediction { get; init; } = "y0";
    /// <summary>Latent loss: mse (unweighted, LADD's default) or elbo (the SNR-difference weight).</summary>
    public string LatentLoss { get; init; } = "mse";
    public double TokenWeight { get; init; } = 1;
    public double LatentWeight { get; init; } = 1;
    /// <summary>Latent dropout p_cfg: the fraction of sequences whose y_t and y_0 are zeroed (latent loss off).</summary>
    public double LatentDropout { get; init; }
    /// <summary>Encoder corruption p_r (§2.4): per sequence p_r ~ U[0, 0.9], zero the encoder inputs at masked positions w.p. p_r.</summary>
    public bool EncoderCorruption { get; init; }
    /// <summary>How p_r corrupts: sequence (LADD's: one coin per sequence w.p. p_r zeroes ALL its masked encoder inputs,
    /// and with P = L the latent patches there) or position (one coin per masked position w.p. p_r).</summary>
    public string EncoderCorruptionMode { get; init; } = "sequence";
    /// <summary>SEQ stage 2: what the latent prior learns: clean (E(x₀) of every sequence, uncorrupted) or decoder (the
    /// p_r-corrupted y₀ the decoder sees, on the sequences p_cfg keeps, as LADD).</summary>
    public string SeqPriorTarget { get; init; } = "clean";
    /// <summary>Draw t_y independently of t_x instead of the shared clock.</summary>
    public bool IndependentTimes { get; init; }
    /// <summary>Ablation: the latent is all zeros (LDDM with a dead latent = MDLM with identical compute).</summary>
    public bool AllZeroLatent { get; init; }
    /// <summary>Latent sampler update: ddim (deterministic, default) or ddpm.</summary>
    public string LatentSampler { get; init; } = "ddim";
    /// <summary>SEQ: latent prior steps N_lat (0 = the same as the token steps N).</summary>
    public int LatentSteps { get; init; }
    /// <summary>Encoder: learned (a DiTEncoder trained with the model), frozen-ar / frozen-mdlm (the last hidden states of
    /// an AR / MDLM checkpoint, encoder_checkpoint, pooled by encoder_pooling) or frozen-lddm (the learned encoder of a
    /// FUJI/SEQ checkpoint, e.g. SEQ stage 1).</summary>
    public string Encoder { get; init; } = "learned";
    public string EncoderCheckpoint { get; init; } = "";
    /// <summary>frozen-ar / frozen-mdlm: chunk-mean (P contiguous chunks of L/P positions) or per-token (P = L).</summary>
    public string EncoderPooling { get; init; } = "chunk-mean";
    /// <summary>SHA-256 of the frozen encoder's weights file, recorded when training starts and checked on every load ("" = not yet pinned).</summary>
    public string EncoderSha256 { get; init; } = "";
    /// <summary>SEQ stage 2: (t, ε) draws per sequence in the prior's loss (its training signal; cheap when P·d ≪ L).</summary>
    public int PriorRepeats { get; init; } = 1;
    /// <summary>DiT preset of the learned encoder and of SEQ's latent prior (xxs, tiny, small, base).</summary>
    public string EncoderPreset { get; init; } = "tiny";

    // ---- Di-LADD (model = diladd): a vector-quantised latent over a frozen encoder. Ignored by the other models. ----
    /// <summary>C, the codes of the quantiser's codebook (the code chain's MASK is code C).</summary>
    public int LatentCodes { get; init; } = 256;
    /// <summary>β, the quantiser's commitment weight (the authors' 0.1).</summary>
    public double VqCommitment { get; init; } = 0.1;
    /// <summary>The codebook's EMA decay (the authors' 0.95).</summary>
    public double VqDecay { get; init; } = 0.95;

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.Strict,
    };

    /// <summary>Throws one clear error naming every invalid value and what is allowed.</summary>
    public TrainConfig Validate()
    {
        var errors = new List<string>();
        void Require(bool ok, string key, object value, string rule)
        {
            if (!ok)
            {
                errors.Add(string.Create(CultureInfo.InvariantCulture, $"{key} = {value} ({rule})"));
            }
        }
        Require(Model is "mdlm" or "fuji" or "seq" or "diladd" or "ar", "model", Model, "mdlm, fuji, seq, diladd or ar");
        Require(Data is "text" or "sawtooth", "data", Data, "text or sawtooth");
        Require(Corpus.Trim().Length > 0, "corpus", "\"\"", "moby-dick, sotu, or the path of a .txt file or of a folder of .txt files");
        Require(Preset is "xxs" or "tiny" or "small" or "base", "preset", Preset, "xxs, tiny, small or base");
        Require(Length is >= 2 and <= 4096, "length", Length, "2..4096");
        Require(Batch is >= 1 and <= 4096, "batch", Batch, "1..4096");
        Require(Steps >= 1, "steps", Steps, "≥ 1");
        Require(GradAccumulation >= 1, "grad_accumulation", GradAccumulation, "≥ 1");
        Require(LearningRate > 0 && LearningRate < 1, "learning_rate", LearningRate, "in (0, 1)");
        Require(WarmupSteps >= 0, "warmup_steps", WarmupSteps, "≥ 0");
        Require(Decay is "constant" or "cosine", "decay", Decay, "constant or cosine");
        Require(WeightDecay is >= 0 and < 1, "weight_decay", WeightDecay, "in [0, 1)");
        Require(GradClip > 0, "grad_clip", GradClip, "> 0");
        Require(EmaDecay is >= 0 and < 1, "ema_decay", EmaDecay, "in [0, 1)");
        Require(Dropout is >= 0 and < 1, "dropout", Dropout, "in [0, 1)");
        Require(MaskSchedule is "loglinear" or "linear", "mask_schedule", MaskSchedule, "loglinear or linear");
        Require(LogEvery >= 1, "log_every", LogEvery, "≥ 1");
        Require(EvalEvery >= 0, "eval_every", EvalEvery, "≥ 0 (0 = only at the end)");
        Require(EvalSequences >= 1, "eval_sequences", EvalSequences, "≥ 1");
        Require(CheckpointEvery >= 0, "checkpoint_every", CheckpointEvery, "≥ 0 (0 = only at the end)");
        Require(SawtoothSaws >= 1, "sawtooth_saws", SawtoothSaws, "≥ 1");
        Require(SawtoothScale is > 0 and <= 0.5, "sawtooth_scale", SawtoothScale, "in (0, 0.5]");
        Require(Stage is >= 0 and <= 2 || (Stage == -1 && Model is "fuji" or "diladd"), "stage", Stage, "0 (both stages), 1 or 2; FUJI and Di-LADD also −1 (one joint stage)");
        Require(Stage == 0 || Model is "seq" or "fuji" or "diladd", "stage", Stage, "only model = seq, fuji or diladd has stages");
        Require(Stage1Fraction is > 0 and < 1, "stage1_fraction", Stage1Fraction, "in (0, 1)");
        Require(Init.Length == 0 || (Model is "seq" or "fuji" or "diladd" && Stage == 2), "init", Init, "only SEQ, FUJI or Di-LADD stage 2 starts from a checkpoint");
        Require(!(Model == "fuji" && Stage == 2 && Encoder == "learned" && !AllZeroLatent) || Init.Length > 0, "init", "\"\"",
            "FUJI stage 2 with encoder = learned freezes the encoder of the stage-1 checkpoint: give init = that checkpoint (or use a frozen encoder)");
        Require(EncoderCorruptionMode is "sequence" or "position", "encoder_corruption_mode", EncoderCorruptionMode, "sequence or position");
        Require(SeqPriorTarget is "clean" or "decoder", "seq_prior_target", SeqPriorTarget, "clean or decoder");
        Require(LatentPatches >= 1 && LatentPatches <= Length, "latent_patches", LatentPatches, "1..length");
        Require(LatentDim is >= 1 and <= 4096, "latent_dim", LatentDim, "1..4096");
        Require(LatentSchedule is "sqrt" or "cosine" or "linear" or "poly", "latent_schedule", LatentSchedule, "sqrt, cosine, linear or poly");
        Require(LatentPower > 0 && double.IsFinite(LatentPower), "latent_power", LatentPower, "> 0");
        Require(LatentPrediction is "y0" or "eps", "latent_prediction", LatentPrediction, "y0 or eps");
        Require(LatentLoss is "mse" or "elbo", "latent_loss", LatentLoss, "mse or elbo");
        Require(TokenWeight >= 0 && double.IsFinite(TokenWeight), "token_weight", TokenWeight, "≥ 0");
        Require(LatentWeight >= 0 && double.IsFinite(LatentWeight), "latent_weight", LatentWeight, "≥ 0");
        Require(LatentDropout is >= 0 and <= 1, "latent_dropout", LatentDropout, "in [0, 1]");
        Require(LatentSampler is "ddim" or "ddpm", "latent_sampler", LatentSampler, "ddim or ddpm");
        Require(LatentSteps >= 0, "latent_steps", LatentSteps, "≥ 0 (0 = the token steps)");
        Require(Encoder is "learned" or "frozen-ar" or "frozen-mdlm" or "frozen-lddm", "encoder", Encoder, "learned, frozen-ar, frozen-mdlm or frozen-lddm");
        Require(EncoderPooling is "chunk-mean" or "per-token", "encoder_pooling", EncoderPooling, "chunk-mean or per-token");
        Require(EncoderPooling == "chunk-mean" || Encoder is "frozen-ar" or "frozen-mdlm", "encoder_pooling", EncoderPooling, "per-token pools a frozen-ar or frozen-mdlm encoder");
        Require(EncoderPooling != "per-token" || LatentPatches == Length, "latent_patches", LatentPatches, $"per-token pooling gives one latent per position: set latent_patches = length ({Length})");
        Require(EncoderSha256.Length == 0 || (EncoderSha256.Length == 64 && EncoderSha256.All(char.IsAsciiHexDigit)), "encoder_sha256", EncoderSha256, "empty or 64 hex digits");
        Require(Encoder == "learned" || EncoderCheckpoint.Length > 0, "encoder_checkpoint", EncoderCheckpoint, "a frozen encoder needs the checkpoint directory it reads");
        Require(PriorRepeats is >= 1 and <= 256, "prior_repeats", PriorRepeats, "1..256");
        Require(EncoderPreset is "xxs" or "tiny" or "small" or "base", "encoder_preset", EncoderPreset, "xxs, tiny, small or base");
        Require(LatentCodes is >= 2 and <= 65536, "latent_codes", LatentCodes, "2..65536 (Di-LADD's codebook size C)");
        Require(VqCommitment >= 0 && double.IsFinite(VqCommitment), "vq_commitment", VqCommitment, "finite and ≥ 0");
        Require(VqDecay is >= 0 and < 1, "vq_decay", VqDecay, "in [0, 1)");
        Require(Model != "diladd" || Encoder != "learned", "encoder", Encoder,
            "model = diladd quantises a frozen encoder: frozen-mdlm, frozen-ar or frozen-lddm (with encoder_checkpoint)");
        Require(Model != "diladd" || !AllZeroLatent, "all_zero_latent", AllZeroLatent, "model = diladd has no all-zero ablation (use fuji)");
        Require(Model != "diladd" || (LatentDropout == 0 && !EncoderCorruption), "latent_dropout/encoder_corruption", $"{LatentDropout}/{EncoderCorruption}",
            "model = diladd implements neither latent dropout nor encoder corruption: leave them at 0/false");
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid config: " + string.Join("; ", errors) + ".");
        }
        return this;
    }

    public JsonObject ToJson() => JsonSerializer.SerializeToNode(this, s_json)!.AsObject();

    public static TrainConfig FromJson(JsonNode node, string source)
    {
        if (node is not JsonObject obj)
        {
            throw new ArgumentException($"Config {source}: expected a JSON object of config keys, got {node?.ToJsonString() ?? "null"}.");
        }
        if (obj.FirstOrDefault(kv => kv.Value is null) is { Key: { } nullKey })
        {
            throw new ArgumentException($"Config {source}: key '{nullKey}' is null; give a value or leave the key out for its default.");
        }
        foreach (var (key, value) in obj)
        {
            CheckValue(key, value!, source);
        }
        try
        {
            return node.Deserialize<TrainConfig>(s_json) ?? throw new JsonException("empty config");
        }
        catch (JsonException e)
        {
            // Not reached for any value CheckValue accepts; still said in the config's terms, never the serializer's.
            string key = e.Path is { Length: > 2 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : "?";
            throw new ArgumentException($"Config {source}: key '{key}' has a value that cannot be read.", e);
        }
    }

    /// <summary>The kind of value each key takes, in the words of the error messages.</summary>
    private static readonly Dictionary<string, Type> s_keyTypes = typeof(TrainConfig)
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite)
        .ToDictionary(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name), p => p.PropertyType, StringComparer.Ordinal);

    /// <summary>Throws one error in the config's terms (the key, what it takes) unless the key exists and the value fits.</summary>
    private static void CheckValue(string key, JsonNode value, string source, string? typed = null)
    {
        if (!s_keyTypes.TryGetValue(key, out var type))
        {
            string? near = Spelling.Nearest(Keys, key);
            throw new ArgumentException(
                $"Config {source}: unknown key '{key}'{(near is null ? "" : $" (did you mean '{near}'?)")}; valid keys: {string.Join(", ", Keys)}.");
        }
        var kind = value.GetValueKind();
        string shown = typed is null ? value.ToJsonString() : $"'{typed}'";
        shown = shown.Length > 40 ? shown[..40] + "…" : shown;
        bool ok = type == typeof(string) ? kind == JsonValueKind.String
            : type == typeof(bool) ? kind is JsonValueKind.True or JsonValueKind.False
            : type == typeof(double) ? kind == JsonValueKind.Number && value.AsValue().TryGetValue(out double d) && double.IsFinite(d)
            : type == typeof(int) ? kind == JsonValueKind.Number && value.AsValue().TryGetValue(out int _)
            : type == typeof(ulong) ? kind == JsonValueKind.Number && value.AsValue().TryGetValue(out ulong _)
            : throw new InvalidOperationException($"TrainConfig key '{key}' has no JSON check for its type.");
        if (!ok)
        {
            string what = type == typeof(string) ? "a string (in quotes)"
                : type == typeof(bool) ? "true or false"
                : type == typeof(double) ? "a number"
                : type == typeof(int) ? "an integer"
                : FormattableString.Invariant($"an integer in 0..{ulong.MaxValue}");
            string quotes = typed is null && type != typeof(string) && kind == JsonValueKind.String ? " (a string: leave out the quotes)" : "";
            throw new ArgumentException($"Config {source}: key '{key}' must be {what}, but is {shown}{quotes}.");
        }
    }

    /// <summary>
    /// Reads a config file strictly: it must be one JSON object (not empty, not <c>null</c>) with no duplicate keys,
    /// no comments, no NaN/Infinity; every failure is one <see cref="ArgumentException"/> naming the file and the key.
    /// </summary>
    public static TrainConfig Load(string path)
    {
        if (System.IO.Directory.Exists(path))
        {
            throw new ArgumentException($"Config file '{path}' is a directory, not a JSON file.");
        }
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Config file '{path}' does not exist.", path);
        }
        return FromJson(ParseStrict(File.ReadAllText(path), $"Config file '{path}'"), path);
    }

    /// <summary>Parses <paramref name="text"/> as one JSON object with unique keys; errors start with <paramref name="source"/>.</summary>
    public static JsonObject ParseStrict(string text, string source)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new ArgumentException($"{source} is empty: expected a JSON object such as {{\"steps\": 1000}}.");
        }
        JsonNode? node;
        try
        {
            RejectDuplicateKeys(text, source);
            node = JsonNode.Parse(text);
        }
        catch (JsonException e)
        {
            // The reader says where (line, byte); NaN/Infinity are not JSON numbers.
            throw new ArgumentException($"{source} is not valid JSON: {ReaderMessage(e)}", e);
        }
        return node switch
        {
            JsonObject o => o,
            null => throw new ArgumentException($"{source} is null: expected a JSON object of config keys."),
            _ => throw new ArgumentException($"{source} is a JSON {node.GetValueKind().ToString().ToLowerInvariant()}, not an object of config keys."),
        };
    }

    /// <summary>The reader's complaint with its position as "line L, byte B" (1-based), without the serializer's path syntax.</summary>
    private static string ReaderMessage(JsonException e)
    {
        string message = e.Message;
        int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut < 0)
        {
            cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        }
        message = (cut >= 0 ? message[..cut] : message).TrimEnd();
        return e.LineNumber is { } line && e.BytePositionInLine is { } bytes
            ? FormattableString.Invariant($"{message.TrimEnd('.')} (line {line + 1}, byte {bytes + 1}).")
            : message;
    }

    /// <summary>Throws when any object in the document names a key twice (System.Text.Json would keep the last silently).</summary>
    private static void RejectDuplicateKeys(string text, string source)
    {
        var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(text), new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        var scopes = new Stack<(HashSet<string>? Keys, string Path)>();
        string path = "";
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                    scopes.Push((new HashSet<string>(StringComparer.Ordinal), path));
                    break;
                case JsonTokenType.StartArray:
                    scopes.Push((null, path));
                    break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    path = scopes.Pop().Path;
                    break;
                case JsonTokenType.PropertyName:
                    string key = reader.GetString()!;
                    var (keys, parent) = scopes.Peek();
                    path = parent.Length == 0 ? key : $"{parent}.{key}";
                    if (!keys!.Add(key))
                    {
                        throw new ArgumentException($"{source} names the key '{path}' twice.");
                    }
                    break;
            }
        }
    }

    /// <summary>
    /// The keys a resumed run may change from its checkpoint's config (everything else must match): a finished run is
    /// extended with a larger <c>steps</c> (with decay = cosine the schedule then stretches to the new end).
    /// </summary>
    public static IReadOnlyList<string> ExtendableKeys { get; } = ["steps", "eval_every", "checkpoint_every", "log_every"];

    /// <summary>The snake_case keys a config accepts.</summary>
    public static IReadOnlyList<string> Keys { get; } = typeof(TrainConfig)
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite)
        .Select(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name))
        .ToList();

    /// <summary>Applies <c>key=value</c> overrides (values parsed as JSON, else as strings); unknown keys are errors.</summary>
    public TrainConfig WithOverrides(IEnumerable<string> assignments)
    {
        var json = ToJson();
        foreach (string a in assignments)
        {
            int eq = a.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new ArgumentException($"Override '{a}' is not key=value.");
            }
            string key = a[..eq].Trim().Replace('-', '_'), value = a[(eq + 1)..].Trim();
            JsonNode? parsed;
            try
            {
                parsed = JsonNode.Parse(value);
            }
            catch (JsonException)
            {
                parsed = JsonValue.Create(value);
            }
            if (!s_keyTypes.ContainsKey(key))
            {
                CheckValue(key, JsonValue.Create(value), $"override '{a}'"); // throws: unknown key, with the valid ones
            }
            json[key] = json[key] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? JsonValue.Create(value) : parsed;
            if (json[key] is { } node)
            {
                CheckValue(key, node, $"override '{a}'", value);
            }
        }
        return FromJson(json, "overrides");
    }
}
