namespace Lddm.Kernels;

public abstract partial class Backend
{
    /// <summary>
    /// dst[i] = a[i] + b[i mod |b|]. <paramref name="b"/> broadcasts over the leading axes of
    /// <paramref name="a"/>: its length must divide a's (e.g. a bias of shape (n) over a of shape (rows, n)).
    /// <paramref name="dst"/> may alias <paramref name="a"/>.
    /// </summary>
    public void Add(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> dst)
    {
        CheckBroadcast(nameof(Add), a, b, dst);
        AddCore(a, b, dst);
    }

    /// <summary>dst[i] = a[i] · b[i mod |b|], broadcasting as in <see cref="Add"/>.</summary>
    public void Mul(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> dst)
    {
        CheckBroadcast(nameof(Mul), a, b, dst);
        MulCore(a, b, dst);
    }

    /// <summary>y[i] = α·x[i] + β·y[i]. With β = 1 this accumulates; with β = 0, y is only written (NaN-safe).</summary>
    public void Axpby(float alpha, DeviceBuffer<float> x, float beta, DeviceBuffer<float> y)
    {
        const string k = nameof(Axpby);
        Check.Finite(alpha, k, nameof(alpha));
        Check.Finite(beta, k, nameof(beta));
        Check.Buffer(this, x, x?.Length ?? 0, k, nameof(x), "(n)");
        Check.Buffer(this, y, x!.Length, k, nameof(y), $"({x.Length})");
        AxpbyCore(alpha, x, beta, y);
    }

    protected abstract void AddCore(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> dst);

    protected abstract void MulCore(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> dst);

    protected abstract void AxpbyCore(float alpha, DeviceBuffer<float> x, float beta, DeviceBuffer<float> y);

    private void CheckBroadcast(string k, DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> dst)
    {
        Check.Buffer(this, a, a?.Length ?? 0, k, nameof(a), "(n)");
        Check.Buffer(this, b, b?.Length ?? 0, k, nameof(b), "(m)");
        if (b!.Length == 0 ? a!.Length != 0 : a!.Length % b.Length != 0)
        {
            throw new ArgumentException(
                $"{k}: 'b' has {b.Length} elements, which does not divide a's {a.Length}: b must broadcast over a's leading axes.",
                nameof(b));
        }
        Check.Buffer(this, dst, a.Length, k, nameof(dst), $"({a.Length})");
    }
}
