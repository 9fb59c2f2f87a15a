using FsCheck.Xunit;
using Lddm.Training.Runs;
using Xunit;

namespace Lddm.Training.Tests.Runs;

/// <summary>Config files are read strictly: every malformed file is one <see cref="ArgumentException"/> naming the file and the problem.</summary>
public sealed class StrictConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string text)
    {
        string path = Path.Combine(_dir, $"c{Guid.NewGuid():N}.json");
        File.WriteAllText(path, text);
        return path;
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("   \n", "is empty")]
    [InlineData("null", "is null")]
    [InlineData("[1, 2]", "is a JSON array")]
    [InlineData("{\"steps\": NaN}", "is not valid JSON")]
    [InlineData("{\"learning_rate\": Infinity}", "is not valid JSON")]
    [InlineData("{\"steps\": 10", "is not valid JSON")]
    [InlineData("{\"steps\": 10, // a comment\n}", "is not valid JSON")]
    [InlineData("{\"steps\": 10, \"steps\": 20}", "names the key 'steps' twice")]
    [InlineData("{\"init\": null}", "key 'init' is null")]
    [InlineData("{\"steps\": \"ten\"}", "steps")]
    [InlineData("{\"stepz\": 10}", "stepz")]
    public void A_malformed_config_file_is_one_clear_error(string text, string expected)
    {
        string path = Write(text);
        var e = Assert.Throws<ArgumentException>(() => TrainConfig.Load(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(Path.GetFileName(path), e.Message);
    }

    [Fact]
    public void A_directory_or_a_missing_file_is_named()
    {
        Assert.Contains("is a directory", Assert.Throws<ArgumentException>(() => TrainConfig.Load(_dir)).Message);
        Assert.Throws<FileNotFoundException>(() => TrainConfig.Load(Path.Combine(_dir, "missing.json")));
    }

    [Fact]
    public void A_stage_is_rejected_for_models_without_stages()
    {
        var e = Assert.Throws<ArgumentException>(() => new TrainConfig { Model = "mdlm", Stage = 2 }.Validate());
        Assert.Contains("stage = 2 (only model = seq, fuji or diladd has stages)", e.Message);
        Assert.Equal(2, new TrainConfig { Model = "seq", Stage = 2 }.Validate().Stage);
        Assert.Equal(1, new TrainConfig { Model = "fuji", Stage = 1 }.Validate().Stage);
        Assert.Equal(-1, new TrainConfig { Model = "diladd", Stage = -1, Encoder = "frozen-mdlm", EncoderCheckpoint = "e" }.Validate().Stage);
        Assert.Contains("stage = -1", Assert.Throws<ArgumentException>(() => new TrainConfig { Model = "seq", Stage = -1 }.Validate()).Message);
    }

    [Fact]
    public void A_valid_file_round_trips()
    {
        var config = new TrainConfig { Steps = 17, LearningRate = 2e-3, Data = "sawtooth" };
        Assert.Equal(config, TrainConfig.Load(Write(config.ToJson().ToJsonString())));
    }

    /// <summary>Random mutations of a valid file: it loads (to a config that validates or not) or raises ArgumentException.</summary>
    [Property(MaxTest = 200)]
    public void Any_mutation_of_a_config_file_loads_or_raises_ArgumentException(int seed)
    {
        var rng = new Random(seed);
        var chars = new TrainConfig { Steps = 5 }.ToJson().ToJsonString().ToCharArray();
        for (int k = 0, n = rng.Next(1, 4); k < n; k++)
        {
            chars[rng.Next(chars.Length)] = "{}[]\",:0123456789.eE-+ntfalsNaI \u00e9\\"[rng.Next(34)];
        }
        string text = new string(chars)[..rng.Next(chars.Length / 2, chars.Length + 1)];
        string path = Write(text);
        try
        {
            TrainConfig.Load(path);
        }
        catch (ArgumentException e)
        {
            AssertInTheUsersTerms(e.Message);
        }
    }

    /// <summary>No serializer internals in a message: .NET type names, JSON paths, the reader's position syntax.</summary>
    private static void AssertInTheUsersTerms(string message)
    {
        foreach (string leak in new[] { "System.", "Int32", "Int64", "UInt64", "Double", "Boolean", "Lddm.", ".NET", "$.", "LineNumber", "BytePositionInLine" })
        {
            Assert.DoesNotContain(leak, message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("{\"stepz\": 10}", "unknown key 'stepz' (did you mean 'steps'?); valid keys: model, data, corpus")]
    [InlineData("{\n \"model\": \"mdlm\",\n \"batch\": 32.5}", "key 'batch' must be an integer, but is 32.5")]
    [InlineData("{\"batch\": \"32\"}", "key 'batch' must be an integer, but is \"32\" (a string: leave out the quotes)")]
    [InlineData("{\"batch\": 99999999999}", "key 'batch' must be an integer, but is 99999999999")]
    [InlineData("{\"seed\": -1}", "key 'seed' must be an integer in 0..18446744073709551615, but is -1")]
    [InlineData("{\"learning_rate\": \"fast\"}", "key 'learning_rate' must be a number")]
    [InlineData("{\"elbo_weighting\": 1}", "key 'elbo_weighting' must be true or false, but is 1")]
    [InlineData("{\"model\": 3}", "key 'model' must be a string (in quotes), but is 3")]
    [InlineData("{\"steps\": NaN}", "is not valid JSON: 'N' is an invalid start of a value (line 1, byte 11)")]
    public void A_bad_key_or_value_is_named_in_the_configs_terms(string text, string expected)
    {
        string path = Write(text);
        var e = Assert.Throws<ArgumentException>(() => TrainConfig.Load(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(Path.GetFileName(path), e.Message);
        AssertInTheUsersTerms(e.Message);
    }

    [Theory]
    [InlineData("steps=abc", "override 'steps=abc': key 'steps' must be an integer, but is 'abc'.")]
    [InlineData("learning_rate=1,5", "override 'learning_rate=1,5': key 'learning_rate' must be a number, but is '1,5'.")]
    [InlineData("learning_rate=NaN", "key 'learning_rate' must be a number, but is 'NaN'.")]
    [InlineData("seed=-1", "key 'seed' must be an integer in 0..18446744073709551615, but is '-1'")]
    [InlineData("lerning_rate=1", "unknown key 'lerning_rate' (did you mean 'learning_rate'?)")]
    public void A_bad_override_is_named_with_the_assignment(string assignment, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => new TrainConfig().WithOverrides([assignment]));
        Assert.Contains(expected, e.Message);
        AssertInTheUsersTerms(e.Message);
    }
}
