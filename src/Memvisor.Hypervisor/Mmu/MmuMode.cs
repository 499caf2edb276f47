namespace Memvisor.Hypervisor.Mmu;

/// <summary>How a domain's page tables are virtualized (scenario <c>mmu:</c>).</summary>
public enum MmuMode : byte
{
    /// <summary>Xen direct paging: the guest's tables hold mfns, are mapped read-only and change only through validated mmu_update hypercalls.</summary>
    Pv,
    /// <summary>Shadow paging, every guest page-table write trapped and emulated (Xen before 3.3).</summary>
    Shadow2,
    /// <summary>Shadow paging with out-of-sync L1 tables, resynced at CR3 switches and INVLPG (Xen 3.3 "Shadow-3").</summary>
    Shadow3,
    /// <summary>Hardware nested paging (EPT/NPT): the guest owns its tables; a TLB miss walks both dimensions.</summary>
    Hap,
}

/// <summary>The scenario names of <see cref="MmuMode"/>.</summary>
public static class MmuModes
{
    public static IReadOnlyList<string> Names { get; } = ["pv", "shadow2", "shadow3", "hap"];

    public static string Name(this MmuMode mode) => Names[(int)mode];

    public static bool TryParse(string name, out MmuMode mode)
    {
        int i = Names.ToList().IndexOf(name);
        mode = i < 0 ? default : (MmuMode)i;
        return i >= 0;
    }
}
