// Writes oracle ids for the tokenizer variants of
// testdata/tokenizers/variants.json: a vendored tokenizer.json with some
// components replaced, so that every normalizer, pre-tokenizer, decoder and
// post-processor the Go package implements meets the Rust crate.
//
// usage: node variants.js REPO  (writes REPO/testdata/tokenizers/expected/variant_NAME.jsonl)
const fs = require('fs'), zlib = require('zlib'), os = require('os'), path = require('path');
const { Tokenizer } = require('@anush008/tokenizers');
const repo = process.argv[2];
const td = path.join(repo, 'testdata', 'tokenizers');
const texts = ['german_texts.jsonl', 'random_texts.jsonl'].flatMap(f =>
  fs.readFileSync(path.join(td, f), 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l)));
(async () => {
  for (const v of JSON.parse(fs.readFileSync(path.join(td, 'variants.json'), 'utf8'))) {
    const base = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(td, v.base, 'tokenizer.json.gz'))).toString('utf8'));
    Object.assign(base, v.patch);
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
