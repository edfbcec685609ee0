// Changes to a server's configuration file made at run time (tunnel add,
// remove, set, endpoint updates, update keys): edited as a YAML document so
// comments and layout survive, validated like any configuration, and written
// by the daemon with writeAtomically (src/sys/durable.ts), so a crash leaves the old or the new file.
import { isMap, isSeq, parseDocument, YAMLMap, YAMLSeq } from 'yaml';
import { parseConfig, ConfigError, type ServerConfig } from './config.js';

export interface TunnelFields {
  client_ipv4?: string;
  server_ipv6?: string;
  client_ipv6?: string;
  routed_prefixes?: string[];
  user?: string;
  update_key_hash?: string;
  server?: string;
}

export type TunnelEdit =
  /** allocate: take the pair (and a /64, and with routed48 a /48) from the pools when not given. */
  | { op: 'add'; name: string; fields: TunnelFields; allocate?: { routed48: boolean } }
  | { op: 'remove'; name: string }
  | { op: 'set'; name: string; fields: TunnelFields };

/** The `sixtun tunnel` flag that sets each field. */
const FLAG_OF: Record<string, string> = {
  client_ipv4: '--client-ipv4', server_ipv6: '--server-ipv6', client_ipv6: '--client-ipv6', routed_prefixes: '--routed-prefix', user: '--user', server: '--server', name: 'NAME',
};

/** An edit that came from command-line flags and does not validate: it names
 * the flag, not a line of a file that does not hold the change (yet). */
export class EditError extends Error {
  readonly code: string;
  constructor(message: string, code = 'ECONFIG') {
    super(message);
    this.code = code;
  }
}

/** A ConfigError about one tunnel given by flags (`tunnels.NAME.field`), in
 * the words of the command line. */
export function flagError(e: ConfigError, fields: Record<string, unknown>): EditError {
  const m = /^tunnels\.[^.]+\.([a-z_0-9]+)(?:\[(\d+)\])?$/.exec(e.field);
  const field = m?.[1] ?? 'name';
  const given = fields[field];
  const value = m?.[2] !== undefined && Array.isArray(given) ? ` ${String(given[Number(m[2])])}` : '';
  const flag = FLAG_OF[field] ?? field;
  return new EditError(e.expected.startsWith('is required') ? `${flag} ${e.expected}` : `${flag}${value}: ${e.expected}`);
}

/** The flag that sets a field (routed_prefixes[1] → --routed-prefix). */
export function flagOf(field: string): string {
  return FLAG_OF[field.replace(/\[\d+\]$/, '')] ?? field;
}

/** Says a ConfigError about the edited text in the words of the edit: flags
 * for the edited tunnel, names (not list indexes) for the others. */
function explain(e: ConfigError, names: string[], edited: Set<number>, edits: TunnelEdit[]): EditError {
  const byName = (text: string): string => text
    .replace(/tunnels\[(\d+)\]\.([a-z_0-9]+(?:\[\d+\])?)/g, (_, i: string, f: string) => `${f} of tunnel ${names[Number(i)]}`)
    .replace(/tunnels\[(\d+)\]/g, (_, i: string) => `tunnel ${names[Number(i)]}`);
  const m = /^tunnels\[(\d+)\](?:\.([a-z_0-9]+)(?:\[(\d+)\])?)?$/.exec(e.field);
  if (m && edited.has(Number(m[1]))) {
    const field = m[2] ?? 'name';
    const edit = edits.find((x) => x.name === names[Number(m[1])]);
    const given = edit && 'fields' in edit ? (edit.fields as Record<string, unknown>)[field] : undefined;
    const value = m[3] !== undefined && Array.isArray(given) ? ` ${String(given[Number(m[3])])}` : '';
    const flag = FLAG_OF[field] ?? field;
    const missing = e.expected.startsWith('is required');
    return new EditError(missing ? `${flag} ${e.expected}` : `${flag}${value}: ${byName(e.expected)}`);
  }
  return new EditError(`${byName(e.field)}: ${byName(e.expected)} (in ${e.file})`);
}

/** Applies edits to the file's text; returns the new text and the validated
 * config. Errors name the flags of the edit (fromFlags) or the file's fields. */
export function editTunnels(text: string, file: string, edits: TunnelEdit[], fromFlags = false): { text: string; config: ServerConfig } {
  const doc = parseDocument(text);
  let seq = doc.get('tunnels', true);
  if (!isSeq(seq)) {
    seq = new YAMLSeq();
    doc.set('tunnels', seq);
  }
  const list = seq as YAMLSeq;
  const find = (name: string): number => list.items.findIndex((it) => isMap(it) && it.get('name') === name);
  for (const e of edits) {
    const at = find(e.name);
    if (e.op === 'add') {
      if (at >= 0) throw new EditError(`a tunnel named ${e.name} exists already (in ${file})`, 'EEXIST');
      const m = doc.createNode({ name: e.name, ...e.fields }) as YAMLMap;
      const routed = m.get('routed_prefixes', true);
      if (isSeq(routed)) routed.flow = true;
      // `tunnels: []` is a flow sequence: its first tunnel makes it a block list, as a person writes it.
      list.flow = false;
      list.items.push(m);
    } else {
      if (at < 0) throw new EditError(`no tunnel named ${e.name} (in ${file})`, 'ENOENT');
      if (e.op === 'remove') list.items.splice(at, 1);
      else {
        const m = list.items[at] as YAMLMap;
        for (const [k, v] of Object.entries(e.fields)) {
          if (v === undefined) continue;
          const node = doc.createNode(v);
          if (isSeq(node)) node.flow = true;
          m.set(k, node);
        }
      }
    }
  }
  // `[a, b]` as people write it, not the library's `[ a, b ]`.
  const out = doc.toString({ flowCollectionPadding: false });
  let config;
  try {
    config = parseConfig(out, file);
  } catch (e) {
    if (!fromFlags || !(e instanceof ConfigError)) throw e;
    const names = list.items.map((it) => String(isMap(it) ? it.get('name') : ''));
    const edited = new Set(edits.filter((x) => x.op !== 'remove').map((x) => names.indexOf(x.name)));
    throw explain(e, names, edited, edits);
  }
  if (config.mode !== 'server') throw new ConfigError(file, null, 'mode', 'tunnels can only be changed on a server');
  return { text: out, config };
}
