using FsCheck;
using FsCheck.Fluent;
using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Personalities;
using Memvisor.Hypervisor.Sharing;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Seam;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Hypervisor;

/// <summary>
/// The sharing scanner keeps the hash of an OS-image or library page by its handle, and that of any other synthetic
/// page in a memo by handle, and compares two pages of the same name without their bytes. Its answers must be the
/// bytes' answers: after enough passes, two gfns share one frame exactly when their bytes are equal, whether the bytes
/// are named by an image handle, a data handle or held as stored bytes, and whether a page was rewritten after the
/// scanner first hashed it.
/// </summary>
public class ImagePageSharingProperties
{
    private const int Pages = 24;

    // The contents a gfn may hold: image pages, one stored copy of an image page's bytes, and plain synthetic pages.
    private static readonly ContentHandle[] Synthetic =
    [
        ContentHandle.ImagePage(ContentClass.KernelText, 7, 1), ContentHandle.ImagePage(ContentClass.KernelText, 7, 2),
        ContentHandle.ImagePage(ContentClass.SharedLibrary, 9, 1), ContentHandle.Synthetic(ContentClass.Compressible, 5),
        ContentHandle.Synthetic(ContentClass.Incompressible, 6),
    ];

    [Fact]
    public void Gfns_share_a_frame_exactly_when_their_bytes_are_equal()
    {
        var gen = from salted in Gen.Elements(false, true)
                  from picks in Gen.ArrayOf(Gen.Choose(0, Synthetic.Length), 2 * Pages)
                  from rewrites in Gen.ArrayOf(Gen.Choose(-Synthetic.Length, Synthetic.Length), 2 * Pages)
                  select (salted, picks, rewrites);
        Properties.Check(gen, t =>
        {
            using var hv = new Host(new MachineMemory(8192, 1), new CostModel(), () => 0, new OvercommitOptions
            {
                Personality = HostPersonality.Xen,
                Sharing = new SharingOptions { Enabled = true, InterVm = !t.salted, MaxPageSharing = 1000 },
            });
            var domains = new[] { TestHost.Domain(hv, "a", Pages, Pages), TestHost.Domain(hv, "b", Pages, Pages) };
            var bytes = new byte[2 * Pages][];
            var copy = new byte[PageSize.Bytes];
            ContentGenerator.Fill(ContentClass.KernelText, Synthetic[0].Seed, copy);
            // A pick is written to each gfn, the scanner passes once, about half the gfns are written again (a
            // negative rewrite leaves the page as it is), and the scanner passes three more times.
            for (int i = 0; i < 2 * Pages; i++) Write(hv, domains[i / Pages], i % Pages, t.picks[i], copy);
            for (int i = 0; i < 2 * Pages; i++) hv.Sharing.ScanGfn(domains[i / Pages], (ulong)(i % Pages));
            for (int i = 0; i < 2 * Pages; i++)
                if (t.rewrites[i] >= 0) Write(hv, domains[i / Pages], i % Pages, t.rewrites[i], copy);
            for (int i = 0; i < 2 * Pages; i++)
            {
                bytes[i] = new byte[PageSize.Bytes];
                Assert.True(hv.PortFor(domains[i / Pages]).ReadPage(new Gfn((ulong)(i % Pages)), bytes[i]));
            }
            for (int pass = 0; pass < 3; pass++)
                for (int i = 0; i < 2 * Pages; i++) hv.Sharing.ScanGfn(domains[i / Pages], (ulong)(i % Pages));

            var read = new byte[PageSize.Bytes];
            for (int i = 0; i < 2 * Pages; i++)
            {
                var e = domains[i / Pages].P2m.Get((ulong)(i % Pages));
                Assert.True(hv.PortFor(domains[i / Pages]).ReadPage(new Gfn((ulong)(i % Pages)), read));
                Assert.True(read.AsSpan().SequenceEqual(bytes[i]), $"gfn {i} lost its bytes");
                for (int j = i + 1; j < 2 * Pages; j++)
                {
                    // Salted, pages of different domains never share.
                    bool mayShare = !t.salted || i / Pages == j / Pages;
                    bool equal = bytes[i].AsSpan().SequenceEqual(bytes[j]);
                    var f = domains[j / Pages].P2m.Get((ulong)(j % Pages));
                    bool same = e.Type == P2mType.Shared && f.Type == P2mType.Shared && e.Mfn == f.Mfn;
                    Assert.True(same == (equal && mayShare), $"gfns {i} and {j}: bytes equal {equal}, same frame {same}, salted {t.salted}");
                }
            }
            Assert.Empty(Auditor.Check(hv));
        }, maxTest: 100);
    }

    // The last pick is the first image page's bytes held under a stored name.
    private static void Write(Host hv, Domain d, int gfn, int pick, byte[] imageCopy)
    {
        if (pick == Synthetic.Length) Assert.True(hv.PortFor(d).WritePage(new Gfn((ulong)gfn), imageCopy));
        else Assert.NotEqual(AccessOutcome.Refused, hv.PortFor(d).Touch(new Gfn((ulong)gfn), true, Synthetic[pick]));
    }
}
