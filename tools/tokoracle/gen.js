// Writes the expected ids of the German test set under the Rust HF
// tokenizers crate (0.22.2, via the napi binding @anush008/tokenizers@0.6.0).
//
// usage (node 20, in a folder where `npm install @anush008/tokenizers@0.6.0
// @anush008/tokenizers-linux-x64-gnu@0.6.0` was run):
//   node gen.js TEXTS.jsonl OUT.jsonl path/to/tokenizer.json[.gz]
// One line per text: text, ids with and without the post-processor's
// special tokens, and decode of the former with and without skipping
// special tokens.
const fs = require('fs'), zlib = require('zlib'), os = require('os'), path = require('path');
const { Tokenizer } = require('@anush008/tokenizers');
const [textsFile, out, tok] = process.argv.slice(2);
const texts = fs.readFileSync(textsFile, 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l));
(async () => {
  let f = tok;
  if (tok.endsWith('.gz')) {
    f = path.join(os.tmpdir(), 'tokoracle-' + process.pid + '.json');
    fs.writeFileSync(f, zlib.gunzipSync(fs.readFileSync(tok)));
  }
  const t = Tokenizer.fromFile(f);
  const rows = [];
  for (const text of texts) {
    const a = Array.from((await t.encode(text, null, { addSpecialTokens: true })).getIds());
    const b = Array.from((await t.encode(text, null, { addSpecialTokens: false })).getIds());
    rows.push({ text, ids: a, ids_no_special: b, decoded: await t.decode(a, false), decoded_skip: await t.decode(a, true) });
  }
  fs.writeFileSync(out, rows.map(r => JSON.stringify(r)).join('\n') + '\n');
  console.log(rows.length, 'rows ->', out);
})().catch(e => { console.error(e); process.exit(1); });
