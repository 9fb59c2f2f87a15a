using Lddm.Training.Engine;
using Xunit;

namespace Lddm.Cli.Tests;

/// <summary>The error boundary's split: failures a user causes are one line and exit 2; anything else is a bug with a trace.</summary>
public sealed class ErrorBoundaryTests
{
    public static TheoryData<Exception> Expected() =>
    [
        new ArgumentException("bad key"),
        new IOException("disk full"),
        new FileNotFoundException("no file"),
        new UnauthorizedAccessException("read-only"),
        new InvalidDataException("corrupt checkpoint"),
        new FormatException("not a number"),
        new System.Text.Json.JsonException("bad json"),
        new OutOfMemoryException(),
        new InsufficientMemoryException("too big"),
        new TrainingDivergedException("diverged"),
    ];

    public static TheoryData<Exception> Bugs() =>
    [
        new ArgumentNullException("x"),
        new InvalidOperationException("state"),
        new NullReferenceException(),
        new IndexOutOfRangeException(),
        new InvalidCastException(),
    ];

    [Fact]
    public void The_one_line_drops_the_name_of_a_csharp_parameter()
    {
        Assert.Equal("Unknown device 'tpu'.", Commands.OneLine(new ArgumentException("Unknown device 'tpu'.", "spec")));
        Assert.Equal("a b", Commands.OneLine(new IOException("a\nb")));
    }

    [Theory]
    [MemberData(nameof(Expected))]
    public void User_failures_are_expected(Exception e) => Assert.True(Commands.IsExpected(e), e.GetType().Name);

    [Theory]
    [MemberData(nameof(Bugs))]
    public void Programming_errors_are_bugs(Exception e) => Assert.False(Commands.IsExpected(e), e.GetType().Name);
}
