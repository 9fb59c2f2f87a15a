namespace Lddm.Autograd;

/// <summary>
/// Gradient recording switch. <c>using (Grad.Off()) { … }</c> runs ops without recording them on the tape
/// (sampling, evaluation): no saved tensors, no backward closures.
/// </summary>
public static class Grad
{
    [ThreadStatic]
    private static int t_offDepth;

    /// <summary>True unless inside a <see cref="Off"/> scope on this thread.</summary>
    public static bool IsEnabled => t_offDepth == 0;

    public static IDisposable Off()
    {
        t_offDepth++;
        return new Scope();
    }

    private sealed class Scope : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (!_done)
            {
                _done = true;
                t_offDepth--;
            }
        }
    }
}
