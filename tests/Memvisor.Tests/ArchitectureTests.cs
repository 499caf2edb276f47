using System.Reflection;

namespace Memvisor.Tests;

/// <summary>The layers of docs/architecture.md as the compiled assemblies hold them: each references only layers below it.</summary>
public sealed class ArchitectureTests
{
    private static readonly Dictionary<string, string[]> Below = new()
    {
        ["Memvisor.Native"] = [],
        ["Memvisor.Machine"] = ["Memvisor.Native"],
        ["Memvisor.Seam"] = ["Memvisor.Machine", "Memvisor.Native"],
        ["Memvisor.Hypervisor"] = ["Memvisor.Seam", "Memvisor.Machine", "Memvisor.Native"],
        ["Memvisor.Guest"] = ["Memvisor.Seam", "Memvisor.Machine", "Memvisor.Native"],
        ["Memvisor.Policy"] = [],
        ["Memvisor.Daemon"] = ["Memvisor.Policy"],
        ["Memvisor.Sim"] = ["Memvisor.Guest", "Memvisor.Hypervisor", "Memvisor.Policy", "Memvisor.Seam", "Memvisor.Machine", "Memvisor.Native"],
        ["Memvisor.Report"] = ["Memvisor.Sim", "Memvisor.Guest", "Memvisor.Hypervisor", "Memvisor.Policy", "Memvisor.Seam", "Memvisor.Machine", "Memvisor.Native"],
    };

    [Fact]
    public void Each_assembly_references_only_the_layers_below_it()
    {
        foreach (var (name, below) in Below)
        {
            var references = Assembly.Load(name).GetReferencedAssemblies().Select(a => a.Name!).Where(n => n.StartsWith("Memvisor.", StringComparison.Ordinal));
            Assert.All(references, r => Assert.True(below.Contains(r), $"{name} references {r}, which is not below it."));
        }
    }

    [Fact]
    public void The_guest_model_reaches_the_hypervisor_only_through_the_seam()
    {
        var guest = Assembly.Load("Memvisor.Guest").GetReferencedAssemblies().Select(a => a.Name);
        Assert.DoesNotContain("Memvisor.Hypervisor", guest);
        Assert.Contains("Memvisor.Seam", guest);
    }
}

/// <summary>summary.json's exits object lists every exit reason the MMU counts, in its order, so a new reason cannot be counted and left out.</summary>
public sealed class ExitsSummaryTests
{
    [Fact]
    public void The_exits_object_has_one_key_per_exit_reason_in_order()
    {
        var keys = typeof(Memvisor.Sim.Summary.ExitsSummary).GetProperties()
            .Where(p => p.DeclaringType == typeof(Memvisor.Sim.Summary.ExitsSummary) && p.Name != "EqualityContract")
            .Select(p => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name));
        Assert.Equal(Memvisor.Hypervisor.Mmu.ExitReasons.Names, keys);
        Assert.Equal(Memvisor.Hypervisor.Mmu.ExitReasons.Count, Enum.GetValues<Memvisor.Hypervisor.Mmu.ExitReason>().Length);
    }
}
