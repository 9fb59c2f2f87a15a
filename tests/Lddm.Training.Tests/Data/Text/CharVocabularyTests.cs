using Lddm.Training.Data.Text;
using Xunit;

namespace Lddm.Training.Tests.Data.Text;

public sealed class CharVocabularyTests
{
    [Fact]
    public void IdsFollowSortedCharactersAndMaskIsK()
    {
        var vocabulary = CharVocabulary.FromText("the sea rolled on");
        var expected = "the sea rolled on".Distinct().Order().ToArray();
        Assert.Equal(expected, vocabulary.Characters);
        Assert.Equal(expected.Length, vocabulary.Size);
        Assert.Equal(expected.Length, vocabulary.MaskId);
        Assert.Equal(Array.IndexOf(expected, 'r'), vocabulary.Encode("r")[0]);
    }

    [Fact]
    public void EncodeDecodeRoundTripsAndShowsMask()
    {
        var vocabulary = CharVocabulary.FromText("abcdefghijklmnopqrstuvwxyz ");
        const string text = "call me ishmael";
        int[] ids = vocabulary.Encode(text);
        Assert.Equal(text, vocabulary.Decode(ids));
        ids[0] = vocabulary.MaskId;
        Assert.Equal("_all me ishmael", vocabulary.Decode(ids));
        Assert.Equal("#all me ishmael", vocabulary.Decode(ids, '#'));
    }

    [Fact]
    public void UnknownCharacterIsNamedWithItsPosition()
    {
        var vocabulary = CharVocabulary.FromText("ab ");
        var error = Assert.Throws<ArgumentException>(() => vocabulary.Encode("ab Xa"));
        Assert.Contains("'X'", error.Message);
        Assert.Contains("position 3", error.Message);
        Assert.Contains("TextNormalizer", error.Message);
    }

    [Fact]
    public void OutOfRangeIdIsRejected()
    {
        var vocabulary = CharVocabulary.FromText("ab");
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => vocabulary.Decode([0, 3]));
        Assert.Contains("position 1", error.Message);
    }

    [Fact]
    public void DuplicateOrEmptyVocabularyIsRejected()
    {
        Assert.Throws<ArgumentException>(() => new CharVocabulary("aba"));
        Assert.Throws<ArgumentException>(() => new CharVocabulary(""));
    }
}
