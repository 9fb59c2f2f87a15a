using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

public sealed class AttentionValidationTests
{
    private const int B = 2, H = 2, T = 5, D = 4, N = B * H * T * D;

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Forward_rejects_bad_sizes_lengths_and_buffers_with_clear_messages(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = backend.Allocate<float>(N);
        using var o = backend.Allocate<float>(N);
        using var lse = backend.Allocate<float>(B * H * T);
        using var shortBuf = backend.Allocate<float>(N - 1);
        using var lengths = backend.Upload<int>([T, 2]);
        using var badLengths = backend.Upload<int>([T + 1, 2]);
        using var negLengths = backend.Upload<int>([-1, 2]);
        using var wrongCount = backend.Upload<int>([1, 2, 3]);
        void Fwd(DeviceBuffer<float> q, DeviceBuffer<int>? l, int hd, AttentionMask m, DeviceBuffer<float> ls) =>
            backend.AttentionForward(q, x, x, l, B, H, T, hd, m, o, ls);

        Assert.Contains("'headDim' must be positive", Assert.ThrowsAny<ArgumentException>(() => Fwd(x, null, 0, AttentionMask.None, lse)).Message);
        Assert.Contains("at most 128 but was 129", Assert.ThrowsAny<ArgumentException>(() => backend.AttentionForward(
            x, x, x, null, 1, 1, 1, 129, AttentionMask.None, o, lse)).Message);
        Assert.Contains("'q' has 79 elements but shape (2, 2, 5, 4) needs 80",
            Assert.Throws<ArgumentException>(() => Fwd(shortBuf, null, D, AttentionMask.None, lse)).Message);
        Assert.Contains("'lse' has 80 elements but shape (2, 2, 5) needs 20",
            Assert.Throws<ArgumentException>(() => Fwd(x, null, D, AttentionMask.None, o)).Message);
        Assert.Contains("validLengths[0] = 6 is outside [0, tokens = 5]",
            Assert.ThrowsAny<ArgumentException>(() => Fwd(x, badLengths, D, AttentionMask.KeyPadding, lse)).Message);
        Assert.Contains("validLengths[0] = -1",
            Assert.ThrowsAny<ArgumentException>(() => Fwd(x, negLengths, D, AttentionMask.KeyPadding, lse)).Message);
        Assert.Contains("'validLengths' has 3 elements but shape (2) needs 2",
            Assert.ThrowsAny<ArgumentException>(() => Fwd(x, wrongCount, D, AttentionMask.KeyPadding, lse)).Message);
        Assert.Contains("needs 'validLengths'",
            Assert.ThrowsAny<ArgumentException>(() => Fwd(x, null, D, AttentionMask.CausalKeyPadding, lse)).Message);
        Assert.Contains("has no KeyPadding",
            Assert.ThrowsAny<ArgumentException>(() => Fwd(x, lengths, D, AttentionMask.Causal, lse)).Message);
        Assert.Contains("'tokens' must be positive", Assert.ThrowsAny<ArgumentException>(() => backend.AttentionForward(
            x, x, x, null, B, H, 0, D, AttentionMask.None, o, lse)).Message);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Backward_rejects_mismatched_gradient_buffers_and_lengths(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = backend.Allocate<float>(N);
        using var lse = backend.Allocate<float>(B * H * T);
        using var shortBuf = backend.Allocate<float>(N - 1);
        using var badLengths = backend.Upload<int>([T, 7]);
        Assert.Contains("'dk' has 79 elements but shape (2, 2, 5, 4) needs 80", Assert.Throws<ArgumentException>(() =>
            backend.AttentionBackward(x, x, x, x, lse, x, null, B, H, T, D, AttentionMask.None, x, shortBuf, x)).Message);
        Assert.Contains("'dO' has 79", Assert.Throws<ArgumentException>(() =>
            backend.AttentionBackward(x, x, x, x, lse, shortBuf, null, B, H, T, D, AttentionMask.None, x, x, x)).Message);
        Assert.Contains("validLengths[1] = 7", Assert.ThrowsAny<ArgumentException>(() =>
            backend.AttentionBackward(x, x, x, x, lse, x, badLengths, B, H, T, D, AttentionMask.KeyPadding, x, x, x)).Message);
    }
}
