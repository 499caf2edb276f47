using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>
/// Images made by hand in the layout docs/model.md gives (header, records, end marker, XXH3-64), each with a correct
/// hash, so that only the restore's structure checks stand between a bad one and the heap: every one is refused and
/// changes nothing, and the good one restores.
/// </summary>
public class SaveImageTests
{
    private const byte Pod = 0, Zero = 1, Handle = 2, Bytes = 3, Same = 4;
    private static readonly ulong Text = ContentHandle.Synthetic(ContentClass.Compressible, 7).Raw;

    private sealed record Record(ulong Gfn, byte Kind, ulong Payload = 0);

    // A tmem pool of a section: persistent or not, and its pages as (object, index, kind, payload).
    private sealed record Pool(bool Persistent, params (ulong Obj, ulong Index, byte Kind, ulong Payload)[] Pages);

    private static byte[] Image(string name, long max, long target, ulong capacity, IReadOnlyList<Record> records, long? count = null, IReadOnlyList<Pool>? tmem = null)
    {
        var body = new MemoryStream();
        void U64(ulong v)
        {
            Span<byte> w = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(w, v);
            body.Write(w);
        }
        body.Write("MVSAVE\0\u0001"u8);
        U64(2);
        byte[] n = Encoding.UTF8.GetBytes(name);
        U64((ulong)n.Length);
        body.Write(n);
        U64((ulong)max);
        U64((ulong)target);
        U64(capacity);
        U64((ulong)(count ?? records.Count));
        foreach (var r in records)
        {
            U64(r.Gfn);
            body.WriteByte(r.Kind);
            if (r.Kind is Handle or Same) U64(r.Payload);
            else if (r.Kind == Bytes) body.Write(new byte[PageSize.Bytes]);
            else if (r.Kind > Same) U64(r.Payload);
        }
        tmem ??= [];
        U64((ulong)tmem.Count);
        foreach (var pool in tmem)
        {
            body.WriteByte(pool.Persistent ? (byte)1 : (byte)0);
            U64((ulong)pool.Pages.Length);
            foreach (var (obj, index, kind, payload) in pool.Pages)
            {
                U64(obj);
                U64(index);
                body.WriteByte(kind);
                if (kind == Handle) U64(payload);
                else if (kind == Bytes) body.Write(Enumerable.Repeat((byte)payload, PageSize.Bytes).ToArray());
            }
        }
        ulong sum = XxHash3.HashToUInt64(body.ToArray());
        body.Write("MVSAVEND"u8);
        U64(sum);
        return body.ToArray();
    }

    [Fact]
    public void A_well_formed_image_restores_and_each_structural_fault_is_refused_with_nothing_changed()
    {
        using var hv = new Host(new MachineMemory(2048, 1), new CostModel(), () => 0, new OvercommitOptions());
        var a = TestHost.Domain(hv, "a", 16, 16);
        using (var first = new MemoryStream())
            Assert.Equal(XenErrno.Ok, hv.SaveDomain(a.DomId, first, out _, out _));
        Record[] good = [new(0, Zero), new(1, Handle, Text), new(2, Bytes), new(3, Same, 1), new(4, Pod)];
        var saved = SaveOf(hv);
        string before = TestHost.Fingerprint(hv);
        var bad = new (string Why, byte[] Image)[]
        {
            ("another domain's name", Image("b", 16, 16, 16, good)),
            ("another physical address space", Image("a", 16, 16, 32, good)),
            ("a content class with no generator", Image("a", 16, 16, 16, [new(1, Handle, (1UL << 60) | (9UL << 56) | 5)])),
            ("a handle into this process's content store", Image("a", 16, 16, 16, [new(1, Handle, ContentHandle.Stored(3).Raw)])),
            ("a shared page naming a later gfn", Image("a", 16, 16, 16, [new(1, Same, 3), new(3, Zero)])),
            ("a shared page naming a populate-on-demand gfn", Image("a", 16, 16, 16, [new(1, Pod), new(3, Same, 1)])),
            ("gfns out of order", Image("a", 16, 16, 16, [new(3, Zero), new(1, Zero)])),
            ("a gfn beyond the address space", Image("a", 16, 16, 16, [new(16, Zero)])),
            ("a record kind that does not exist", Image("a", 16, 16, 16, [new(1, 9, 0)])),
            ("more pages than max_pages", Image("a", 2, 2, 16, good)),
            ("fewer records than the header counts", Image("a", 16, 16, 16, good, count: 6)),
            ("more tmem pools than a client may have", Image("a", 16, 16, 16, good, tmem: [.. Enumerable.Repeat(new Pool(false), 17)])),
            ("an ephemeral pool with pages", Image("a", 16, 16, 16, good, tmem: [new Pool(false, (1, 1, Zero, 0))])),
            ("tmem pages out of order", Image("a", 16, 16, 16, good, tmem: [new Pool(true, (1, 2, Zero, 0), (1, 1, Zero, 0))])),
            ("a tmem page of a kind it cannot have", Image("a", 16, 16, 16, good, tmem: [new Pool(true, (1, 1, Same, 0))])),
            ("a tmem handle into this process's content store", Image("a", 16, 16, 16, good, tmem: [new Pool(true, (1, 1, Handle, ContentHandle.Stored(3).Raw))])),
        };
        foreach (var (why, image) in bad)
        {
            Assert.True(hv.RestoreDomain(saved, new MemoryStream(image), out var d, out _) == XenErrno.EINVAL, $"an image with {why} was not refused");
            Assert.Null(d);
            Assert.Equal(before, TestHost.Fingerprint(hv));
        }
        // Well formed, but with tmem pools this host (tmem off) cannot make again.
        Assert.Equal(XenErrno.EOPNOTSUPP, hv.RestoreDomain(saved, new MemoryStream(Image("a", 16, 16, 16, good, tmem: [new Pool(true)])), out _, out _));
        Assert.Equal(before, TestHost.Fingerprint(hv));
        Assert.Equal(XenErrno.Ok, hv.RestoreDomain(saved, new MemoryStream(Image("a", 16, 16, 16, good)), out var restored, out var stats));
        Assert.Equal((4, 1, 1, 1, 1, 1), (restored!.TotPages, stats.ZeroPages, stats.HandlePages, stats.BytePages, stats.DuplicatePages, stats.PodEntries));
        var page = new byte[PageSize.Bytes];
        var text = new byte[PageSize.Bytes];
        hv.Machine.Contents.Read(new ContentHandle(Text), text);
        Assert.True(hv.PortFor(restored).ReadPage(new Gfn(3), page));
        Assert.Equal(text, page);
        Assert.Empty(Auditor.Check(hv));
    }

    [Fact]
    public void An_images_tmem_pools_are_made_again_under_their_ids_with_their_pages()
    {
        using var hv = new Host(new MachineMemory(2048, 1), new CostModel(), () => 0,
            new OvercommitOptions { Tmem = new global::Memvisor.Hypervisor.Tmem.TmemOptions { Enabled = true, ReservePages = 8 } });
        var saved = SaveOf(hv);
        var image = Image("a", 16, 16, 16, [new(0, Zero)], tmem: [new Pool(false), new Pool(true, (4, 0, Bytes, 0x5a), (4, 9, Handle, Text), (5, 0, Zero, 0))]);
        Assert.Equal(XenErrno.Ok, hv.RestoreDomain(saved, new MemoryStream(image), out var restored, out var stats));
        Assert.Equal(3, stats.TmemPages);
        var port = hv.PortFor(restored!);
        var page = new byte[PageSize.Bytes];
        Assert.True(port.TmemPeek(1, 4, 0, page));
        Assert.All(page, b => Assert.Equal(0x5a, b));
        var text = new byte[PageSize.Bytes];
        hv.Machine.Contents.Read(new ContentHandle(Text), text);
        Assert.True(port.TmemPeek(1, 4, 9, page));
        Assert.Equal(text, page);
        Assert.True(port.TmemPeek(1, 5, 0, page));
        Assert.All(page, b => Assert.Equal(0, b));
        // Pool 0 is the ephemeral one, empty; no third pool.
        Assert.False(port.TmemPeek(0, 4, 0, page));
        Assert.False(port.TmemPeek(2, 4, 0, page));
        Assert.Empty(Auditor.Check(hv));
    }

    private static Memvisor.Hypervisor.Save.SavedDomain SaveOf(Host hv)
    {
        // A second domain of the same name and size, saved, gives a SavedDomain whose guest connection is unused.
        var twin = TestHost.Domain(hv, "a", 16, 16);
        using var image = new MemoryStream();
        Assert.Equal(XenErrno.Ok, hv.SaveDomain(twin.DomId, image, out var saved, out _));
        return saved!;
    }
}
