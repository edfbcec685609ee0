// docs/configuration.md documents every field the configuration parser reads.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';

describe('configuration reference', () => {
  const source = readFileSync(new URL('../../src/config/config.ts', import.meta.url), 'utf8');
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  // Every f.string('x'), f.int('x'), f.bool(…), f.choice(…), f.ipv4(…), f.ipv6(…), f.prefixList(…),
  // f.get('x') and listenAddress(f, 'x') in the parser is a field name.
  const fields = new Set<string>();
  for (const m of source.matchAll(/\b(?:f|sub)\.(?:string|int|bool|choice|ipv4|ipv6|ipv6WithLength|prefixList|get|has)\('([a-z_0-9]+)'/g)) fields.add(m[1]);
  for (const m of source.matchAll(/listenAddress\(f, '([a-z_]+)'/g)) fields.add(m[1]);

  it('finds the fields in the parser', () => {
    expect(fields.size).toBeGreaterThan(25);
    expect(fields).toContain('routed_prefixes');
  });

  for (const field of [...fields].sort()) {
    it(`documents \`${field}\``, () => {
      expect(doc, `docs/configuration.md does not mention \`${field}\``).toContain(`\`${field}\``);
    });
  }
});
