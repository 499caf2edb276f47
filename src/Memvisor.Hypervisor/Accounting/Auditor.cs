using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Grants;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor.Accounting;

/// <summary>
/// Checks the hypervisor's state against DESIGN.md's invariants by a full scan (slow: for tests and the FsCheck properties, never on a run):
/// one owner per frame and p2m/m2p agreement (1), another domain's frame reached only through a grant mapping the
/// granter's entry permits (2), free scrubbed frames hold zeros (3), tot_pages within max_pages
/// and frame-table counts matching the accounting (5). Returns every violation as a sentence.
/// </summary>
public static class Auditor
{
    // Invariant 2 for a foreign frame: the domain reaches it only through a grant it was given. The maptrack holds the
    // mapping, the frame is the granter's page at the granted gfn, and the granter's entry permits this domain (writably
    // if the mapping is) and says it is in use.
    private static void CheckGrantMap(Host hv, Domain d, ulong gfn, P2mEntry e, Dictionary<ulong, GrantMapping> held, List<string> problems)
    {
        bool readOnly = e.Type == P2mType.GrantMapRo;
        if (!held.TryGetValue(gfn, out var m) || m.Mfn != e.Mfn || m.ReadOnly != readOnly)
        {
            problems.Add($"{d} maps gfn {gfn} to foreign mfn {e.Mfn} without a grant mapping that says so.");
            return;
        }
        var owner = hv.Find(m.Granter);
        var entry = hv.Grants.EntryOf(m.Granter, m.Ref);
        if (owner is null || hv.Machine.Frames[e.Mfn].Owner != m.Granter || owner.P2m.Get(hv.M2p[e.Mfn]) is not { HasFrame: true } own || own.Mfn != e.Mfn)
            problems.Add($"{d} maps gfn {gfn} to mfn {e.Mfn}, which is not a page of domain {m.Granter}.");
        else if (entry is not { PermitsAccess: true } g || g.DomId != d.DomId || (!readOnly && g.IsReadOnly) || g.Frame != hv.M2p[e.Mfn])
            problems.Add($"{d} maps gfn {gfn} to mfn {e.Mfn} of domain {m.Granter}, whose grant {m.Ref} does not permit it.");
        else if ((g.Flags & GrantEntry.Reading) == 0 || (!readOnly && (g.Flags & GrantEntry.Writing) == 0))
            problems.Add($"domain {m.Granter}'s grant {m.Ref} is mapped by {d} but its entry does not say it is in use.");
    }

    public static List<string> Check(Host hv)
    {
        var problems = new List<string>();
        var frames = hv.Machine.Frames;
        var mappedBy = new Dictionary<uint, (ushort Dom, ulong Gfn)>();
        var sharedMappings = new Dictionary<uint, long>();
        var grantMappings = new Dictionary<uint, int>();
        long pagedOut = 0;
        foreach (var d in hv.Domains)
        {
            if (d.TotPages > d.MaxPages)
                problems.Add($"{d} holds {d.TotPages} pages, above its max_pages of {d.MaxPages}.");
            if (d.P2m.PresentEntries > d.MaxPages)
                problems.Add($"{d} has {d.P2m.PresentEntries} pages in its p2m, above its max_pages of {d.MaxPages}.");
            pagedOut += d.P2m.PagedOutEntries;
            if (d.P2m.CompressedEntries != (d.Compression?.Count ?? 0))
                problems.Add($"{d} has {d.P2m.CompressedEntries} compressed entries but its compression cache holds {d.Compression?.Count ?? 0} pages.");
            long ram = 0;
            var held = hv.Grants.MappingsHeldBy(d.DomId).ToDictionary(m => m.At);
            long grantMaps = 0;
            d.P2m.ForEachPresent((gfn, e) =>
            {
                if (e.IsGrantMap)
                {
                    grantMaps++;
                    grantMappings[e.Mfn] = grantMappings.GetValueOrDefault(e.Mfn) + 1;
                    CheckGrantMap(hv, d, gfn, e, held, problems);
                    return;
                }
                if (e.Type == P2mType.Shared)
                {
                    sharedMappings[e.Mfn] = sharedMappings.GetValueOrDefault(e.Mfn) + 1;
                    if (frames[e.Mfn].Owner != DomIds.Cow)
                        problems.Add($"{d} maps gfn {gfn} shared to mfn {e.Mfn}, which is owned by {frames[e.Mfn].Owner}, not dom_cow.");
                    return;
                }
                if (!e.OwnsFrame) return;
                ram++;
                if (!mappedBy.TryAdd(e.Mfn, (d.DomId, gfn)))
                    problems.Add($"mfn {e.Mfn} is mapped by domain {d.DomId} at gfn {gfn} and also by domain {mappedBy[e.Mfn].Dom} at gfn {mappedBy[e.Mfn].Gfn}.");
                ref var f = ref frames[e.Mfn];
                if (f.Owner != d.DomId)
                    problems.Add($"{d} maps gfn {gfn} to mfn {e.Mfn}, which is owned by {f.Owner}.");
                if (f.IsFree)
                    problems.Add($"{d} maps gfn {gfn} to mfn {e.Mfn}, which is free in the heap.");
                if (hv.M2p[e.Mfn] != gfn)
                    problems.Add($"m2p says mfn {e.Mfn} is gfn {hv.M2p[e.Mfn]}, but {d}'s p2m maps it at gfn {gfn}.");
            });
            if (d.Mmu is Mmu.Pv.PvMmu pv) PvCountAudit.Check(hv, d, pv, problems);
            if (grantMaps != held.Count || grantMaps != d.P2m.GrantMapEntries)
                problems.Add($"{d} has {grantMaps} grant mappings in its p2m, {held.Count} in the maptrack and a count of {d.P2m.GrantMapEntries}.");
            long cache = 0;
            if (d.Pod is { } pod)
                foreach (uint mfn in pod.Frames)
                {
                    cache++;
                    if (frames[mfn].Owner != d.DomId) problems.Add($"{d}'s PoD cache holds mfn {mfn}, which is owned by {frames[mfn].Owner}.");
                    if (!mappedBy.TryAdd(mfn, (d.DomId, ulong.MaxValue))) problems.Add($"{d}'s PoD cache holds mfn {mfn}, which is also mapped or cached elsewhere.");
                }
            if (ram + cache != d.TotPages)
                problems.Add($"{d} has {ram} RAM and remote entries in its p2m and {cache} frames in its PoD cache but tot_pages says {d.TotPages}.");
        }

        long free = 0, xen = 0, scrubPending = 0, shared = 0;
        var ownedByDomain = new Dictionary<ushort, long>();
        // Each node's free frames, counted as the scan crosses the nodes' ranges (frames are numbered node by node).
        var nodes = hv.Machine.Nodes;
        var freeByNode = new long[nodes.Count];
        int node = 0;
        for (uint mfn = 0; mfn < frames.Count; mfn++)
        {
            ref var f = ref frames[mfn];
            while (node < nodes.Count - 1 && !nodes[node].Contains(mfn)) node++;
            if (f.IsFree)
            {
                free++;
                freeByNode[node]++;
                if ((f.Flags & FrameFlags.ScrubPending) != 0) scrubPending++;
                else if (!f.Content.IsZero) problems.Add($"mfn {mfn} is free and counted as scrubbed but holds {f.Content}.");
                if (f.Owner != DomIds.Invalid) problems.Add($"mfn {mfn} is free but names owner {f.Owner}.");
                continue;
            }
            if (f.Owner == DomIds.Xen) xen++;
            else if (f.Owner == DomIds.Cow)
            {
                long maps = sharedMappings.GetValueOrDefault(mfn);
                if (!hv.Sharing.IsSharedFrame(mfn)) problems.Add($"mfn {mfn} is owned by dom_cow but the sharing index does not know it.");
                else if (maps != hv.Sharing.MappingsOf(mfn)) problems.Add($"shared mfn {mfn} is mapped {maps} times but its count says {hv.Sharing.MappingsOf(mfn)}.");
                if (maps == 0 && mfn != hv.Sharing.ZeroMfn) problems.Add($"shared mfn {mfn} is mapped by nobody and was not freed.");
                if (hv.M2p[mfn] != PageSharing.SharedM2p) problems.Add($"shared mfn {mfn} has m2p {hv.M2p[mfn]}, not the shared marker.");
                shared++;
                continue;
            }
            else
            {
                ownedByDomain[f.Owner] = ownedByDomain.GetValueOrDefault(f.Owner) + 1;
                if (!mappedBy.ContainsKey(mfn)) problems.Add($"mfn {mfn} is owned by {f.Owner} but no p2m maps it.");
            }
            if (hv.M2p[mfn] != M2p.Invalid && !mappedBy.ContainsKey(mfn))
                problems.Add($"m2p names gfn {hv.M2p[mfn]} for mfn {mfn}, which no p2m maps.");
        }
        foreach (var d in hv.Domains)
            if (ownedByDomain.GetValueOrDefault(d.DomId) != d.TotPages)
                problems.Add($"the frame table shows {ownedByDomain.GetValueOrDefault(d.DomId)} frames owned by {d}, but tot_pages says {d.TotPages}.");
        foreach (var owner in ownedByDomain.Keys)
            if (hv.Find(owner) is null)
                problems.Add($"{ownedByDomain[owner]} frames are owned by domain {owner}, which does not exist.");

        foreach (var (mfn, maps) in grantMappings)
        {
            if (hv.Grants.MappingsOf(mfn) != maps) problems.Add($"mfn {mfn} is grant-mapped {maps} times but the grant tables count {hv.Grants.MappingsOf(mfn)}.");
            if (frames[mfn].RefCount < maps) problems.Add($"mfn {mfn} is grant-mapped {maps} times but its reference count is {frames[mfn].RefCount}.");
        }
        foreach (var d in hv.Domains)
            foreach (uint mfn in hv.Grants.TableFramesOf(d.DomId))
                if (frames[mfn].Owner != DomIds.Xen || frames[mfn].IsFree) problems.Add($"{d}'s grant-table frame {mfn} is not a hypervisor frame.");

        var acc = hv.Account();
        if (!acc.AddsUp)
            problems.Add($"accounting does not add up: free {acc.FreeFrames} + owned {acc.OwnedFrames} + shared {acc.SharedFrames} + compression {acc.CompressionFrames} + tmem {acc.TmemFrames} + hypervisor {acc.HypervisorFrames} != {acc.TotalFrames}.");
        if (free != acc.FreeFrames) problems.Add($"the frame table shows {free} free frames but the heaps count {acc.FreeFrames}.");
        foreach (var heap in nodes)
            if (freeByNode[heap.Node] != heap.FreePages)
                problems.Add($"the frame table shows {freeByNode[heap.Node]} free frames on node {heap.Node} but its heap counts {heap.FreePages}.");
        long xenUses = acc.HypervisorFrames + acc.CompressionFrames + acc.TmemFrames;
        if (xen != xenUses) problems.Add($"the frame table shows {xen} hypervisor frames but the accounting says {xenUses} (own use, compression and tmem).");
        if (shared != acc.SharedFrames) problems.Add($"the frame table shows {shared} dom_cow frames but the accounting says {acc.SharedFrames}.");
        if (pagedOut != hv.Paging.SwapSlotsUsed) problems.Add($"{pagedOut} p2m entries are paged out but the swap file has {hv.Paging.SwapSlotsUsed} slots in use.");
        if (scrubPending != acc.ScrubPendingFrames) problems.Add($"the frame table shows {scrubPending} scrub-pending frames but the scrubber counts {acc.ScrubPendingFrames}.");
        return problems;
    }
}
