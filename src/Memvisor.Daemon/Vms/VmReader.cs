namespace Memvisor.Daemon.Vms;

/// <summary>
/// Reads VMs all at once, each on a thread of its own: one VM that does not answer costs its timeout once, not once
/// per VM after it, and nothing on the thread pool (a slow scraper) delays a read. A stop abandons the reads.
/// </summary>
public static class VmReader
{
    /// <summary>Each VM's reading or why it has none, in order; null if <paramref name="stop"/> came first.</summary>
    public static (VmReading? Reading, string? Error)[]? ReadAll(IReadOnlyList<IVm> vms, CancellationToken stop)
    {
        var results = new (VmReading? Reading, string? Error)[vms.Count];
        // Not disposed: a read abandoned at a stop still signals it when its VM finally answers or times out.
        var done = new CountdownEvent(vms.Count);
        for (int i = 0; i < vms.Count; i++)
        {
            int index = i;
            new Thread(() =>
            {
                try
                {
                    results[index] = (vms[index].Read(), null);
                }
                catch (VmUnreachableException e)
                {
                    results[index] = (null, e.Message);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    results[index] = (null, $"{vms[index].Address} could not be read: {e.Message}");
                }
                finally
                {
                    done.Signal();
                }
            }) { IsBackground = true, Name = "vm-read" }.Start();
        }
        return WaitHandle.WaitAny([done.WaitHandle, stop.WaitHandle]) == 0 ? results : null;
    }
}
