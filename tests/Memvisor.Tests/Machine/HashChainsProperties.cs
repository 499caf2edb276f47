using FsCheck;
using FsCheck.Fluent;
using Memvisor.Machine.Content;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Machine;

/// <summary>The one content index: after any sequence of adds and removes, each hash's chain holds exactly the ids added under it and not removed, newest first.</summary>
public sealed class HashChainsProperties
{
    [Fact]
    public void Chains_hold_the_live_ids_of_each_hash_newest_first()
    {
        // (id, hash) pairs over few ids and fewer hashes, so ids come back and chains are long.
        var ops = Gen.Zip(Gen.Choose(0, 300), Gen.Choose(0, 7)).ListOf().Select(l => l.ToArray());
        Properties.Check(ops, sequence =>
        {
            var chains = new HashChains();
            var model = new Dictionary<ulong, List<int>>();
            var hashOf = new Dictionary<int, ulong>();
            foreach (var (id, h) in sequence)
            {
                if (hashOf.Remove(id, out ulong old))
                {
                    chains.Remove(id);
                    model[old].Remove(id);
                }
                else
                {
                    ulong hash = (ulong)h * 0x9E37_79B9_7F4A_7C15UL;
                    chains.Add(id, hash);
                    hashOf[id] = hash;
                    (model.TryGetValue(hash, out var list) ? list : model[hash] = []).Insert(0, id);
                }
            }
            Assert.Equal(hashOf.Count, chains.Count);
            foreach (var (hash, ids) in model)
            {
                var walked = new List<int>();
                for (int id = chains.First(hash); id != HashChains.None; id = chains.Next(id)) walked.Add(id);
                Assert.Equal(ids, walked);
            }
            for (int id = 0; id <= 300; id++) Assert.Equal(hashOf.ContainsKey(id), chains.Contains(id));
        }, maxTest: 200);
    }
}
