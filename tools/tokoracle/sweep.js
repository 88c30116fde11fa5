// Encodes, for every code point c of the BMP and plane 1 (no surrogates)
// plus a few higher ones, the text "x" c "y" c c " 1'" c "\n" without
// special tokens, and writes one SHA-256 digest (16 hex digits) per block of
// 256 code points over the blocks' ids (JSON arrays joined by "\n"), so the
// Go test can check all 129029 inputs against a 33 KB file.
//
// usage: node sweep.js path/to/tokenizer.json[.gz] OUT.txt
const fs = require('fs'), zlib = require('zlib'), os = require('os'), path = require('path'), crypto = require('crypto');
const { Tokenizer } = require('@anush008/tokenizers');
const [tok, out] = process.argv.slice(2);
let f = tok;
if (tok.endsWith('.gz')) { f = path.join(os.tmpdir(), 'sweep-' + process.pid + '.json'); fs.writeFileSync(f, zlib.gunzipSync(fs.readFileSync(tok))); }
const t = Tokenizer.fromFile(f);
const cps = [];
for (let c = 0; c < 0x20000; c++) if (c < 0xD800 || c >= 0xE000) cps.push(c);
for (const c of [0xE0001, 0xE0020, 0xE0100, 0xF0000, 0x10FFFD]) cps.push(c);
(async () => {
  const texts = cps.map(c => { const s = String.fromCodePoint(c); return 'x' + s + 'y' + s + s + " 1'" + s + '\n'; });
  const ids = [];
  for (let i = 0; i < texts.length; i += 2000)
    for (const e of await t.encodeBatch(texts.slice(i, i + 2000), { addSpecialTokens: false })) ids.push(JSON.stringify(Array.from(e.getIds())));
  const lines = [];
  for (let i = 0; i < ids.length; i += 256)
    lines.push(cps[i].toString(16) + ' ' + crypto.createHash('sha256').update(ids.slice(i, i + 256).join('\n')).digest('hex').slice(0, 16));
  fs.writeFileSync(out, lines.join('\n') + '\n');
  console.log(ids.length, 'inputs,', lines.length, 'blocks ->', out);
})().catch(e => { console.error(e); process.exit(1); });
