using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>A numbered list of child modules: children are named "0", "1", … (e.g. "blocks.3.attn.qkv.weight").</summary>
public sealed class ModuleList : Module
{
    private readonly List<Module> _items = new();

    public ModuleList(Backend backend)
        : base(backend)
    {
    }

    public int Count => _items.Count;

    public Module this[int index] => _items[index];

    public T Add<T>(T module) where T : Module
    {
        AddModule(_items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
        _items.Add(module);
        return module;
    }
}
