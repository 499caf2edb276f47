using FsCheck;
using FsCheck.Fluent;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Grants;
using Memvisor.Hypervisor.Paging;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>
/// Grant tables under random sequences of grants, maps, unmaps, copies and writes, with ballooning, sharing and paging
/// interleaved: a map or copy succeeds exactly when the granter's entry permits it (DESIGN.md invariant 2: a domain
/// reaches another's frame only through a grant it was given), a mapped page can be neither ballooned out, shared nor
/// paged, every read (of a domain's own page, or of a granted page through its mapping) returns the bytes last
/// written to it (invariant 4), and the auditor finds nothing wrong at any point.
/// </summary>
public class GrantProperties
{
    private const int Domains = 3;
    private const int Own = 24;        // gfns 0..23 are a domain's memory; 24..31 hold nothing, for mappings
    private const int MaxMem = 32;
    private const int Refs = 6;

    private static readonly ContentHandle[] Contents =
    [
        ContentHandle.Synthetic(ContentClass.Compressible, 1), ContentHandle.Synthetic(ContentClass.Compressible, 2),
        ContentHandle.Synthetic(ContentClass.Incompressible, 3), ContentHandle.Zero,
    ];

    private enum OpKind { Write, Grant, End, Map, Unmap, Copy, ReadMapped, WriteMapped, Balloon, Populate, Scan, Evict, Accept, Transfer, GrantMapped }

    private readonly record struct Op(OpKind Kind, int Dom, int Other, int A, int B, bool Flag);

    // Every kind once, and grants, maps and the accesses through them more often, so that mappings exist and are used.
    private static readonly OpKind[] Weighted =
        [.. Enum.GetValues<OpKind>(), OpKind.Grant, OpKind.Map, OpKind.Map, OpKind.Map, OpKind.ReadMapped, OpKind.WriteMapped, OpKind.Copy];

    private static readonly Gen<Op> OpGen =
        from kind in Gen.Elements(Weighted)
        from dom in Gen.Choose(0, Domains - 1)
        from other in Gen.Choose(0, Domains - 1)
        from a in Gen.Choose(0, MaxMem - 1)
        from b in Gen.Choose(0, 63)
        from flag in Gen.Elements(true, false)
        select new Op(kind, dom, other, a, b, flag);

    // An entry of a domain's table: a grant of access to Gfn, or (Accept) an offer to take a page from Other at Gfn.
    private sealed record Grant(int Grantee, ulong Gfn, bool ReadOnly, bool Accept = false, bool Completed = false);
    private sealed record Mapping(int Grantee, uint Handle, int Granter, uint Ref, ulong At, bool ReadOnly);

    [Fact]
    public void Grants_are_the_only_way_to_another_domain_s_frame_and_no_byte_is_lost()
    {
        var seen = new int[Enum.GetValues<OpKind>().Length];
        var succeeded = new int[seen.Length];
        Properties.Check(Gen.ArrayOf(OpGen, 150), ops => Run(ops, seen, succeeded), maxTest: 50);
        Assert.True(succeeded[(int)OpKind.Map] > 0 && succeeded[(int)OpKind.Copy] > 0 && succeeded[(int)OpKind.Transfer] > 0,
            $"too few operations succeeded: map {succeeded[(int)OpKind.Map]}, copy {succeeded[(int)OpKind.Copy]}, transfer {succeeded[(int)OpKind.Transfer]}");
        // The sequences must have mapped, copied and written through mappings, or the property proved little.
        Assert.True(seen[(int)OpKind.Map] > 0 && seen[(int)OpKind.Copy] > 0 && seen[(int)OpKind.WriteMapped] > 0 && seen[(int)OpKind.Unmap] > 0
            && seen[(int)OpKind.Transfer] > 0,
            $"the sequences reached too little: {string.Join(", ", Enum.GetValues<OpKind>().Select(k => $"{k} {seen[(int)k]}"))}");
    }

    private static void Run(Op[] ops, int[] seen, int[] succeeded)
    {
        using var hv = new Host(new MachineMemory(2048, 1), new CostModel(), () => 0, new OvercommitOptions
        {
            Sharing = new SharingOptions { Enabled = true, MaxPageSharing = 100 },
            Paging = new PagingOptions { SwapPages = 512, Configured = true },
        });
        var ds = new Domain[Domains];
        var ports = new IGuestMemory[Domains];
        var bytes = new byte[Domains][][];
        var present = new bool[Domains][];
        var grants = new Dictionary<(int Dom, uint Ref), Grant>();
        var mappings = new List<Mapping>();
        for (int i = 0; i < Domains; i++)
        {
            // The last domain is populate-on-demand: its pages get frames at first touch, or when granted.
            ds[i] = TestHost.Domain(hv, $"d{i}", Own, MaxMem, i == Domains - 1 ? AllocationMode.OnDemand : AllocationMode.Static);
            ports[i] = hv.PortFor(ds[i]);
            Assert.Equal(XenErrno.Ok, hv.Grants.SetupTable(ds[i].DomId, 1));
            bytes[i] = new byte[MaxMem][];
            present[i] = new bool[MaxMem];
            for (int g = 0; g < MaxMem; g++)
            {
                bytes[i][g] = new byte[PageSize.Bytes];
                present[i][g] = g < Own;
            }
        }
        var page = new byte[PageSize.Bytes];
        bool MappedAt(int dom, ulong gfn) => mappings.Any(m => m.Granter == dom && grants[(m.Granter, m.Ref)].Gfn == gfn);
        bool HoldsMapping(int dom, ulong gfn) => mappings.Any(m => m.Grantee == dom && m.At == gfn);
        bool InUse(int dom, uint gref) => mappings.Any(m => m.Granter == dom && m.Ref == gref);

        for (int step = 0; step < ops.Length; step++)
        {
            var op = ops[step];
            int d = op.Dom, o = op.Other;
            ushort domId = ds[d].DomId, otherId = ds[o].DomId;
            uint gref = (uint)(op.B % Refs);
            // Half the maps and copies use a grant o has given d, so that most of them have something to reach.
            if (op.B >= 32 && op.Kind is OpKind.Map or OpKind.Copy
                && grants.Where(kv => kv.Key.Dom == o && kv.Value.Grantee == d && !kv.Value.Accept).Select(kv => kv.Key.Ref).DefaultIfEmpty(uint.MaxValue).First() is var given
                && given != uint.MaxValue)
                gref = given;
            ulong own = (ulong)op.A;
            switch (op.Kind)
            {
                case OpKind.Write when present[d][own]:
                {
                    var content = Contents[op.B % Contents.Length];
                    Assert.NotEqual(AccessOutcome.Refused, ports[d].Touch(new Gfn(own), true, content));
                    hv.Machine.Contents.Read(content, bytes[d][own]);
                    break;
                }
                case OpKind.Grant:
                {
                    var errno = hv.Grants.GrantAccess(domId, gref, otherId, own, op.Flag);
                    Assert.Equal(InUse(d, gref) ? XenErrno.EBUSY : XenErrno.Ok, errno);
                    if (errno == XenErrno.Ok) grants[(d, gref)] = new Grant(o, own, op.Flag);
                    break;
                }
                case OpKind.GrantMapped when mappings.Any(m => m.Grantee == d):
                {
                    // Domain d grants o the gfn where it holds a third domain's page: the grant reaches nothing.
                    var held = mappings.Where(m => m.Grantee == d).ToList()[op.A % mappings.Count(m => m.Grantee == d)];
                    var errno = hv.Grants.GrantAccess(domId, gref, otherId, held.At, op.Flag);
                    Assert.Equal(InUse(d, gref) ? XenErrno.EBUSY : XenErrno.Ok, errno);
                    if (errno == XenErrno.Ok) grants[(d, gref)] = new Grant(o, held.At, op.Flag);
                    break;
                }
                case OpKind.End:
                {
                    var errno = hv.Grants.EndAccess(domId, gref);
                    Assert.Equal(InUse(d, gref) ? XenErrno.EBUSY : XenErrno.Ok, errno);
                    if (errno == XenErrno.Ok) grants.Remove((d, gref));
                    break;
                }
                case OpKind.Map:
                {
                    // Domain d maps o's grant at one of its empty gfns.
                    ulong at = (ulong)(Own + op.A % (MaxMem - Own));
                    bool atFree = !mappings.Any(m => m.Grantee == d && m.At == at);
                    bool permitted = o != d && grants.TryGetValue((o, gref), out var gr) && !gr.Accept && gr.Grantee == d && (op.Flag || !gr.ReadOnly)
                        && present[o][gr.Gfn] && atFree && !present[d][at];
                    var errno = hv.Grants.Map(domId, otherId, gref, at, op.Flag, out uint handle);
                    Assert.True(permitted == (errno == XenErrno.Ok), $"step {step}: map of {o}'s grant {gref} by {d} at {at}: permitted {permitted}, got {errno}");
                    if (errno == XenErrno.Ok) mappings.Add(new Mapping(d, handle, o, gref, at, op.Flag));
                    if (errno == XenErrno.Ok) succeeded[(int)op.Kind]++;
                    break;
                }
                case OpKind.Unmap when mappings.Count > 0:
                {
                    var m = mappings[op.B % mappings.Count];
                    Assert.Equal(XenErrno.Ok, hv.Grants.Unmap(ds[m.Grantee].DomId, m.Handle));
                    mappings.Remove(m);
                    Assert.Equal(AccessOutcome.Refused, ports[m.Grantee].Touch(new Gfn(m.At), false, ContentHandle.Zero));
                    break;
                }
                case OpKind.Copy when present[d][own] && op.Flag && o != d:
                {
                    // Domain d copies part of its own page into a page o granted it: only a writable grant allows it.
                    int offset = op.B * 64, length = Math.Min(64 * (1 + op.A % 16), PageSize.Bytes - op.B * 64);
                    bool permitted = grants.TryGetValue((o, gref), out var gr) && !gr.Accept && gr.Grantee == d && !gr.ReadOnly && present[o][gr.Gfn];
                    var errno = hv.Grants.Copy(domId, new GrantCopySide(domId, own), new GrantCopySide(otherId, gref), offset, length);
                    Assert.True(permitted == (errno == XenErrno.Ok), $"step {step}: copy into {o}'s {gref} by {d}: permitted {permitted}, got {errno}");
                    if (errno != XenErrno.Ok) break;
                    bytes[d][own].AsSpan(offset, length).CopyTo(bytes[o][gr!.Gfn].AsSpan(offset, length));
                    succeeded[(int)op.Kind]++;
                    break;
                }
                case OpKind.Copy when present[d][own]:
                {
                    // Domain d copies part of o's granted page (or of its own) into its own page.
                    int offset = op.B * 64, length = 64 * (1 + op.A % 16);
                    length = Math.Min(length, PageSize.Bytes - offset);
                    bool permitted = o == d ? present[o][(ulong)gref % Own] : grants.TryGetValue((o, gref), out var gr) && !gr.Accept && gr.Grantee == d && present[o][gr.Gfn];
                    ulong srcGfn = o == d ? (ulong)gref % Own : grants.TryGetValue((o, gref), out var g2) ? g2.Gfn : 0;
                    var source = o == d ? new GrantCopySide(domId, srcGfn) : new GrantCopySide(otherId, gref);
                    var errno = hv.Grants.Copy(domId, source, new GrantCopySide(domId, own), offset, length);
                    Assert.True(permitted == (errno == XenErrno.Ok), $"step {step}: copy from {o}'s {gref} by {d}: permitted {permitted}, got {errno}");
                    if (errno == XenErrno.Ok) bytes[o][srcGfn].AsSpan(offset, length).CopyTo(bytes[d][own].AsSpan(offset, length));
                    if (errno == XenErrno.Ok) succeeded[(int)op.Kind]++;
                    break;
                }
                case OpKind.ReadMapped when mappings.Count > 0:
                {
                    var m = mappings[op.B % mappings.Count];
                    Assert.True(ports[m.Grantee].ReadPage(new Gfn(m.At), page));
                    Assert.True(page.AsSpan().SequenceEqual(bytes[m.Granter][grants[(m.Granter, m.Ref)].Gfn]), $"step {step}: a mapping reads other bytes than its granter's page holds");
                    break;
                }
                case OpKind.WriteMapped when mappings.Count > 0:
                {
                    var m = mappings[op.B % mappings.Count];
                    var content = Contents[op.A % Contents.Length];
                    var outcome = ports[m.Grantee].Touch(new Gfn(m.At), true, content);
                    Assert.Equal(m.ReadOnly, outcome == AccessOutcome.Refused);
                    if (!m.ReadOnly) hv.Machine.Contents.Read(content, bytes[m.Granter][grants[(m.Granter, m.Ref)].Gfn]);
                    break;
                }
                case OpKind.Balloon:
                {
                    ulong gfn = (ulong)op.A;
                    var errno = ports[d].DecreaseReservation([gfn], 0);
                    // Only the domain's own page can go, and not while another domain has it mapped; a gfn holding
                    // nothing or a mapping of another's page is not the domain's to give back.
                    var expected = present[d][gfn] ? MappedAt(d, gfn) ? XenErrno.EBUSY : XenErrno.Ok : XenErrno.EINVAL;
                    Assert.True(expected == errno, $"step {step}: balloon of {d}'s gfn {gfn}: expected {expected}, got {errno}");
                    if (errno == XenErrno.Ok) present[d][gfn] = false;
                    break;
                }
                case OpKind.Populate when !present[d][own]:
                {
                    var errno = ports[d].PopulatePhysmap([own], 0);
                    Assert.Equal(HoldsMapping(d, own) ? XenErrno.EEXIST : XenErrno.Ok, errno);
                    if (errno != XenErrno.Ok) break;
                    present[d][own] = true;
                    Array.Clear(bytes[d][own]);
                    break;
                }
                case OpKind.Accept:
                {
                    // Domain d offers to take a page from o at one of its gfns.
                    ulong at = (ulong)(Own + op.A % (MaxMem - Own));
                    var errno = hv.Grants.AcceptTransfer(domId, gref, otherId, at);
                    Assert.Equal(InUse(d, gref) ? XenErrno.EBUSY : XenErrno.Ok, errno);
                    if (errno == XenErrno.Ok) grants[(d, gref)] = new Grant(o, at, false, Accept: true);
                    break;
                }
                case OpKind.Transfer:
                {
                    // Domain d gives its page at `own` to o, through o's entry gref.
                    bool permitted = o != d && grants.TryGetValue((o, gref), out var gr) && gr.Accept && !gr.Completed && gr.Grantee == d
                        && !present[o][gr.Gfn] && !HoldsMapping(o, gr.Gfn) && present[d][own] && !MappedAt(d, own);
                    var errno = hv.Grants.Transfer(domId, own, otherId, gref);
                    Assert.True(permitted == (errno == XenErrno.Ok), $"step {step}: transfer of {d}'s gfn {own} to {o} by grant {gref}: permitted {permitted}, got {errno}");
                    if (errno != XenErrno.Ok) break;
                    succeeded[(int)op.Kind]++;
                    var target = grants[(o, gref)];
                    grants[(o, gref)] = target with { Completed = true };
                    present[d][own] = false;
                    present[o][target.Gfn] = true;
                    bytes[d][own].CopyTo(bytes[o][target.Gfn], 0);
                    break;
                }
                case OpKind.Scan:
                    // A pass over the domain's pages, so pages of equal bytes meet (in this domain or with a page
                    // another pass left in the unstable tree) and merge.
                    for (ulong g = 0; g < MaxMem; g++) hv.Sharing.ScanGfn(ds[d], g);
                    break;
                case OpKind.Evict:
                {
                    bool evicted = hv.Paging.Evict(ds[d], own);
                    if (MappedAt(d, own)) Assert.False(evicted, $"step {step}: a page another domain has mapped was paged out");
                    break;
                }
                default:
                    continue;
            }
            seen[(int)op.Kind]++;
            if (step % 10 == 0) Assert.Empty(Auditor.Check(hv));
        }

        for (int i = 0; i < Domains; i++)
            for (ulong g = 0; g < MaxMem; g++)
                if (present[i][g])
                {
                    Assert.True(ports[i].ReadPage(new Gfn(g), page), $"d{i} gfn {g} could not be read");
                    Assert.True(page.AsSpan().SequenceEqual(bytes[i][g]), $"d{i} gfn {g} does not hold what was last written");
                }
        foreach (var m in mappings)
        {
            Assert.True(ports[m.Grantee].ReadPage(new Gfn(m.At), page));
            Assert.True(page.AsSpan().SequenceEqual(bytes[m.Granter][grants[(m.Granter, m.Ref)].Gfn]));
        }
        Assert.Empty(Auditor.Check(hv));
        Assert.Equal(mappings.Count, hv.Grants.Mappings);
    }
}
