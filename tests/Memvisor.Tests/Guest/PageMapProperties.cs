using FsCheck;
using FsCheck.Fluent;
using Memvisor.Guest.Memory;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Guest;

/// <summary>
/// The guest's page map keeps descriptors only for chunks with a page in use, yet answers as a flat struct page array
/// would: after every step of a random sequence of uses given, pages put on and taken off LRU lists, growth and
/// descriptor reads, each page's use, owner and index, the per-use and per-list counts and every list's order match a
/// plain reference model, and descriptors exist exactly for the chunks holding a page in use.
/// </summary>
public class PageMapProperties
{
    private enum OpKind { Assign, AddHead, Remove, Grow, Read }

    private sealed record Op(OpKind Kind, int Page, PageUse Use, int Owner, LruList List)
    {
        public override string ToString() => $"{Kind}(page {Page}, {Use}, owner {Owner}, {List})";
    }

    private static readonly Gen<Op> OpGen =
        from kind in Gen.Frequency((8, Gen.Constant(OpKind.Assign)), (4, Gen.Constant(OpKind.AddHead)), (3, Gen.Constant(OpKind.Remove)),
            (1, Gen.Constant(OpKind.Grow)), (2, Gen.Constant(OpKind.Read)))
        // Pages cluster in a few chunks so that chunks fill and empty.
        from chunk in Gen.Choose(0, 4)
        from offset in Gen.Frequency((3, Gen.Choose(0, 7)), (1, Gen.Choose(0, 511)))
        from use in Gen.Elements(PageUse.Unheld, PageUse.Free, PageUse.Free, PageUse.Anon, PageUse.File, PageUse.Kernel, PageUse.PageTable, PageUse.Foreign)
        from owner in Gen.Choose(0, 3)
        from list in Gen.Elements(LruList.InactiveAnon, LruList.ActiveAnon, LruList.InactiveFile, LruList.ActiveFile)
        select new Op(kind, chunk * 512 + offset, use, owner, list);

    [Fact]
    public void The_chunked_map_answers_as_a_flat_array_would()
    {
        var gen = from n in Gen.Choose(10, 200)
                  from ops in Gen.ArrayOf(OpGen, n)
                  select ops;
        Properties.Check(gen, Run, maxTest: 150);
    }

    private static void Run(Op[] ops)
    {
        long length = 2000;
        var map = new PageMap(length);
        var use = new List<PageUse>(Enumerable.Repeat(PageUse.Unheld, (int)length));
        var owner = new List<int>(new int[length]);
        var lists = new[] { new LinkedList<ulong>(), new LinkedList<ulong>(), new LinkedList<ulong>(), new LinkedList<ulong>() };
        var onList = new Dictionary<ulong, LruList>();
        int step = 0;
        foreach (var op in ops)
        {
            step++;
            ulong gfn = (ulong)op.Page;
            bool inRange = op.Page < length;
            switch (op.Kind)
            {
                case OpKind.Assign when inRange && !onList.ContainsKey(gfn):
                {
                    bool plain = op.Use is PageUse.Free or PageUse.Unheld;
                    map.Assign(gfn, op.Use, plain ? 0 : op.Owner, plain ? 0 : gfn);
                    use[op.Page] = op.Use;
                    owner[op.Page] = plain ? 0 : op.Owner;
                    break;
                }
                case OpKind.AddHead when inRange && !onList.ContainsKey(gfn) && use[op.Page] is PageUse.Anon or PageUse.File:
                {
                    var list = PageMap.ListFor(use[op.Page], op.List is LruList.ActiveAnon or LruList.ActiveFile);
                    map.AddHead(gfn, list);
                    lists[(int)list].AddFirst(gfn);
                    onList[gfn] = list;
                    break;
                }
                case OpKind.Remove when inRange:
                    map.Remove(gfn);
                    if (onList.Remove(gfn, out var was)) lists[(int)was].Remove(gfn);
                    break;
                case OpKind.Grow:
                    length += 300;
                    map.Grow(length);
                    while (use.Count < length) { use.Add(PageUse.Unheld); owner.Add(0); }
                    break;
                case OpKind.Read when inRange:
                    // Reading through the indexer brings the chunk's descriptors back and must change nothing.
                    Assert.Equal(use[op.Page], map[gfn].Use);
                    break;
            }
            Assert.Equal(length, map.Length);
            var counts = new long[Enum.GetValues<PageUse>().Length];
            for (int g = 0; g < length; g++)
            {
                counts[(int)use[g]]++;
                if (map.UseOf((ulong)g) != use[g]) Assert.Fail($"step {step} {op}: page {g} is {map.UseOf((ulong)g)}, expected {use[g]}.");
                if (use[g] is not (PageUse.Free or PageUse.Unheld) && (map[(ulong)g].Owner != owner[g] || map[(ulong)g].Index != (ulong)g))
                    Assert.Fail($"step {step} {op}: page {g} lost its owner or index.");
            }
            foreach (PageUse u in Enum.GetValues<PageUse>())
                Assert.Equal(counts[(int)u], map.CountOf(u));
            for (int l = 0; l < 4; l++)
            {
                Assert.Equal(lists[l].Count, map.CountOf((LruList)l));
                // Walk the list from its tail through the prev links: oldest first.
                var walked = new List<ulong>();
                for (uint g = map.TailOf((LruList)l); g != PageDescriptor.NoLink; g = map[g].Prev) walked.Add(g);
                Assert.Equal(lists[l].Reverse(), walked);
            }
        }
        // Descriptors are kept exactly for the chunks with a page in use (reads may have kept a few more alive).
        long inUse = Enumerable.Range(0, (int)length).Where(g => use[g] is not (PageUse.Free or PageUse.Unheld)).Select(g => g >> 9).Distinct().Count();
        Assert.True(map.LiveChunks >= inUse, $"{map.LiveChunks} chunks kept, {inUse} hold pages in use.");
        foreach (ulong g in onList.Keys) map.Remove(g);
        for (int g = 0; g < length; g++) map.Assign((ulong)g, PageUse.Free, 0, 0);
        Assert.Equal(0, map.LiveChunks);
    }
}
