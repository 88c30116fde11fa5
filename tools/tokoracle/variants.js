// Writes oracle ids for the tokenizer variants of
// testdata/tokenizers/variants.json: a vendored tokenizer.json with some
// components replaced, so that every normalizer, pre-tokenizer, decoder and
// post-processor the Go package implements meets the Rust crate; variants
// with "unigram" also swap the BPE model for a Unigram one (unigramFrom).
//
// usage: node variants.js REPO  (writes REPO/testdata/tokenizers/expected/variant_NAME.jsonl)
const fs = require('fs'), zlib = require('zlib'), os = require('os'), path = require('path');
const { Tokenizer } = require('@anush008/tokenizers');
const repo = process.argv[2];
const td = path.join(repo, 'testdata', 'tokenizers');
const texts = ['german_texts.jsonl', 'random_texts.jsonl'].flatMap(f =>
  fs.readFileSync(path.join(td, f), 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l)));
// unigramFrom turns a BPE model into a Unigram one over the same pieces,
// with scores -1 - (id mod 997)/8: exact in binary, so the Go test builds
// bit-identical scores, and full of ties to exercise tie-breaking.
function unigramFrom(bpe, byteFallback) {
  const vocab = Object.entries(bpe.vocab).sort((a, b) => a[1] - b[1]).map(([tok, id]) => [tok, -1 - (id % 997) / 8]);
  return { type: 'Unigram', unk_id: bpe.vocab['<unk>'], vocab, byte_fallback: byteFallback };
}

(async () => {
  for (const v of JSON.parse(fs.readFileSync(path.join(td, 'variants.json'), 'utf8'))) {
    const base = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(td, v.base, 'tokenizer.json.gz'))).toString('utf8'));
    Object.assign(base, v.patch);
    if (v.append_added_tokens) base.added_tokens = base.added_tokens.concat(v.append_added_tokens);
    if (v.unigram) base.model = unigramFrom(base.model, v.unigram.byte_fallback);
    const f = path.join(os.tmpdir(), 'variant-' + v.name + '.json');
    fs.writeFileSync(f, JSON.stringify(base));
    const t = Tokenizer.fromFile(f);
    const rows = [];
    for (const text of texts) {
      const a = Array.from((await t.encode(text, null, { addSpecialTokens: true })).getIds());
      const b = Array.from((await t.encode(text, null, { addSpecialTokens: false })).getIds());
      rows.push({ text, ids: a, ids_no_special: b, decoded: await t.decode(a, false), decoded_skip: await t.decode(a, true) });
    }
    const out = path.join(td, 'expected', 'variant_' + v.name + '.jsonl');
    fs.writeFileSync(out, rows.map(r => JSON.stringify(r)).join('\n') + '\n');
    console.log(rows.length, 'rows ->', out);
  }
})().catch(e => { console.error(e); process.exit(1); });
