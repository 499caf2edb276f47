namespace Memvisor.Hypervisor.Tiers;

/// <summary>What the transparent tiering scanner did.</summary>
public record struct TieringStats
{
    public long Scans;
    public long PagesScanned;
    /// <summary>Pages found hot on a slower node, and cold on a guest's own node, at the last scan.</summary>
    public long HotPagesLast;
    public long ColdPagesLast;
    /// <summary>Pages it moved to a guest's own node (promoted) and off it to make room (demoted).</summary>
    public long Promoted;
    /// <summary>Of the promoted, pages promoted for being written on a node whose writes cost more (write-aware).</summary>
    public long WritePromoted;
    public long Demoted;
    /// <summary>Pages brought back from NVMe by the guest touching them (promote_on_touch), and touches that found no free frame.</summary>
    public long TouchPromoted;
    public long TouchRefused;
    /// <summary>Pressure-driven offloading (pressure_target): cold pages demoted for being above their domain's limit, and the limit's tightenings and back-offs.</summary>
    public long Offloaded;
    public long PressureProbes;
    public long PressureBackoffs;
    /// <summary>Hypervisor time reading and clearing accessed and dirty bits (the shootdowns after each scan are page migrations' figures).</summary>
    public double ScanNs;
}
