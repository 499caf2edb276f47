namespace Memvisor.Guest.Kernel;

/// <summary>
/// A guest's /proc/meminfo, in pages. The model's bookkeeping identity: MemFree + Cached + AnonPages + PageTables
/// + KernelPages = MemTotal.
/// </summary>
public readonly record struct MemInfo(
    long MemTotal,
    long MemFree,
    long MemAvailable,
    long Cached,
    long Dirty,
    long AnonPages,
    long PageTables,
    long KernelPages,
    long ActiveAnon,
    long InactiveAnon,
    long ActiveFile,
    long InactiveFile,
    long CommittedAs,
    long SwapTotal,
    long SwapFree)
{
    public bool AddsUp => MemFree + Cached + AnonPages + PageTables + KernelPages == MemTotal;
}
