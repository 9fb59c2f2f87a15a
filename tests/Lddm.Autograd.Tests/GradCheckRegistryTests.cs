using System.Reflection;
using Lddm.Autograd.Tests.Support;
using Xunit;

namespace Lddm.Autograd.Tests;

public sealed class GradCheckRegistryTests
{
    /// <summary>Every op (a sealed Node subclass in Lddm.Autograd) must have a finite-difference gradient check.</summary>
    [Fact]
    public void Every_op_has_a_finite_difference_gradient_check()
    {
        var ops = typeof(Node).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(Node)) && !t.IsAbstract)
            .ToHashSet();
        var checkedOps = typeof(GradCheckRegistryTests).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods())
            .SelectMany(m => m.GetCustomAttributes<GradCheckOfAttribute>())
            .Select(a => a.Op)
            .ToHashSet();
        var missing = ops.Where(op => !checkedOps.Contains(op)).Select(op => op.Name).OrderBy(n => n).ToList();
        Assert.True(missing.Count == 0, "Ops without a gradient check: " + string.Join(", ", missing));
        Assert.NotEmpty(ops);
    }
}
