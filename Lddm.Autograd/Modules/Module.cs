using Lddm.Kernels;

namespace Lddm.Autograd;

/// <summary>
/// Base of every network piece: owns its parameters and child modules under stable dotted names
/// ("blocks.0.attn.qkv.weight"), which checkpoints use; train/eval mode propagates to children.
/// Disposing a module frees every parameter it owns.
/// </summary>
public abstract class Module : IDisposable
{
    private readonly List<(string Name, Parameter Parameter)> _parameters = new();
    private readonly Dictionary<Parameter, Init> _inits = new();
    private readonly List<(string Name, Module Module)> _children = new();
    private bool _disposed;

    protected Module(Backend backend) => Backend = backend;

    public Backend Backend { get; }

    /// <summary>True in training mode (dropout active), false in eval mode.</summary>
    public bool Training { get; private set; } = true;

    public void Train() => SetMode(true);

    public void Eval() => SetMode(false);

    /// <summary>Every parameter with its dotted name, in registration order (stable across runs).</summary>
    public IEnumerable<(string Name, Parameter Parameter)> NamedParameters()
    {
        foreach (var (name, p) in _parameters)
        {
            yield return (name, p);
        }
        foreach (var (prefix, child) in _children)
        {
            foreach (var (name, p) in child.NamedParameters())
            {
                yield return ($"{prefix}.{name}", p);
            }
        }
    }

    public IEnumerable<Parameter> Parameters() => NamedParameters().Select(np => np.Parameter);

    public long ParameterCount => Parameters().Sum(p => (long)p.Shape.Elements);

    /// <summary>Registers a new parameter; <see cref="Initialize"/> fills it according to <paramref name="init"/>.</summary>
    protected Parameter AddParameter(string name, Init init, params int[] shape)
    {
        CheckName(name);
        var p = new Parameter(Backend, shape);
        _parameters.Add((name, p));
        _inits[p] = init;
        return p;
    }

    /// <summary>
    /// Initialises every parameter of this module tree from <paramref name="seed"/>; each parameter draws from its
    /// own counter-based stream keyed by its dotted name, so the result is the same on every backend.
    /// </summary>
    public void Initialize(ulong seed)
    {
        foreach (var (name, p) in NamedParameters())
        {
            InitOf(p).Apply(Backend, p.Data, seed, Init.StreamOf(name));
        }
    }

    private Init InitOf(Parameter p)
    {
        if (_inits.TryGetValue(p, out var init))
        {
            return init;
        }
        foreach (var (_, child) in _children)
        {
            if (child.Parameters().Contains(p))
            {
                return child.InitOf(p);
            }
        }
        throw new InvalidOperationException("Parameter without an initialiser.");
    }

    /// <summary>Registers a child module under <paramref name="name"/>.</summary>
    protected T AddModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        if (!ReferenceEquals(module.Backend, Backend))
        {
            throw new ArgumentException($"Module '{name}' lives on {module.Backend.Name} but its parent on {Backend.Name}.", nameof(module));
        }
        _children.Add((name, module));
        return module;
    }

    /// <summary>Drops every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters())
        {
            p.ClearGrad();
        }
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Bad module/parameter name '{name}': names are non-empty and contain no '.'.", nameof(name));
        }
        if (_parameters.Any(p => p.Name == name) || _children.Any(c => c.Name == name))
        {
            throw new ArgumentException($"Name '{name}' is registered twice in {GetType().Name}.", nameof(name));
        }
    }

    private void SetMode(bool training)
    {
        Training = training;
        foreach (var (_, child) in _children)
        {
            child.SetMode(training);
        }
    }

    protected virtual void Dispose(bool disposing)
    {
        foreach (var (_, p) in _parameters)
        {
            p.Dispose();
        }
        foreach (var (_, child) in _children)
        {
            child.Dispose();
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        Dispose(true);
        GC.SuppressFinalize(this);
    }
}
