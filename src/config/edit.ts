// Changes to a server's configuration file made at run time (tunnel add,
// remove, set, endpoint updates, update keys): edited as a YAML document so
// comments and layout survive, validated like any configuration, and written
// atomically (write, fsync, rename) so a crash leaves the old or the new file.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { isMap, isSeq, parseDocument, YAMLMap, YAMLSeq } from 'yaml';
import { parseConfig, ConfigError, type ServerConfig } from './config.js';

export interface TunnelFields {
  client_ipv4?: string;
  server_ipv6?: string;
  client_ipv6?: string;
  routed_prefixes?: string[];
  user?: string;
  update_key_hash?: string;
}

export type TunnelEdit =
  | { op: 'add'; name: string; fields: TunnelFields }
  | { op: 'remove'; name: string }
  | { op: 'set'; name: string; fields: TunnelFields };

/** Applies edits to the file's text; returns the new text and the validated config. */
export function editTunnels(text: string, file: string, edits: TunnelEdit[]): { text: string; config: ServerConfig } {
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
      if (at >= 0) throw Object.assign(new ConfigError(file, null, `tunnels.${e.name}`, 'a tunnel of that name exists'), { code: 'EEXIST' });
      const m = doc.createNode({ name: e.name, ...e.fields }) as YAMLMap;
      const routed = m.get('routed_prefixes', true);
      if (isSeq(routed)) routed.flow = true;
      list.items.push(m);
    } else {
      if (at < 0) throw Object.assign(new ConfigError(file, null, `tunnels.${e.name}`, 'no tunnel of that name'), { code: 'ENOENT' });
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
  const out = doc.toString();
  const config = parseConfig(out, file);
  if (config.mode !== 'server') throw new ConfigError(file, null, 'mode', 'tunnels can only be changed on a server');
  return { text: out, config };
}

/** Writes text to file so that any crash leaves either the old or the new file. */
export function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  // The rename itself is durable once the directory is synced.
  const dfd = openSync(dirname(file), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export function readText(file: string): string {
  return readFileSync(file, 'utf8');
}
