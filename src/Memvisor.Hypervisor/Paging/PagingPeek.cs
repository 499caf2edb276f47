using Memvisor.Hypervisor.Compression;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.P2m;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Native;

namespace Memvisor.Hypervisor.Paging;

public sealed partial class HypervisorPaging
{
    /// <summary>
    /// Reads a paged-out or compressed page without bringing it in (for a save image): its handle when the cache keeps it
    /// by one, else its bytes in <paramref name="page"/>. False if the bytes could not be read back.
    /// </summary>
    internal bool Peek(Domain d, P2mEntry e, Span<byte> page, out ContentHandle content)
    {
        content = ContentHandle.Zero;
        if (e.Type == P2mType.PagedOut)
        {
            if (_swap!.Read(e.Slot, page) != 0) return false;
            Counters.SwapReads++;
            Counters.IoNs += _hv.Costs.HvSwapReadNs;
            return true;
        }
        if (e.Type != P2mType.Compressed || d.Compression is not { } cache) return false;
        if (cache.TryHandle((int)e.Slot, out content)) return true;
        CompressionCounters.PagesDecompressed++;
        CompressionCounters.CpuNs += Codec!.DecompressNs;
        return Codec.Decompress(cache.Bytes((int)e.Slot), page) == PageSize.Bytes;
    }
}
