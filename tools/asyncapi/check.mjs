// Parse an AsyncAPI document with the official parser; print every diagnostic as JSON.
// Exit 0 when the document parsed (the caller judges the diagnostics), 2 when it did not.
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const path = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(path, 'utf8'), { source: path });
const severity = ['error', 'warning', 'information', 'hint'];
console.log(JSON.stringify({
  parsed: Boolean(document),
  version: document ? document.version() : null,
  diagnostics: diagnostics.map((d) => ({
    code: d.code, severity: severity[d.severity], message: d.message, path: d.path.join('.'),
  })),
}));
process.exit(document ? 0 : 2);
