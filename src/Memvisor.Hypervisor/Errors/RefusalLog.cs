using Memvisor.Machine.Lanes;
using Memvisor.Seam;

namespace Memvisor.Hypervisor.Errors;

/// <summary>
/// Every refused request is counted; the first <see cref="Capacity"/> are kept in full for the summary. A guest's
/// bad request is refused and logged here, never thrown through the simulation loop.
/// </summary>
public sealed class RefusalLog(Func<long> now, int capacity = 1000)
{
    private readonly List<RefusedRequest> _kept = [];

    public int Capacity { get; } = capacity;
    public long Count { get; private set; }
    public IReadOnlyList<RefusedRequest> Kept => _kept;

    public XenErrno Record(ushort domid, string domain, string call, XenErrno errno, RefusalCause cause, long requested, long limit)
    {
        Turn.Require("the refusal log");
        Count++;
        if (_kept.Count < Capacity)
            _kept.Add(new RefusedRequest(now(), domid, domain, call, errno, cause, requested, limit));
        return errno;
    }
}
