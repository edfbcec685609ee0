// Policy routing rules: struct fib_rule_hdr (12 bytes) + FRA_* attributes
// (linux/fib_rules.h). sixtun needs one kind: `ip -6 rule add iif DEV lookup
// TABLE pref N proto 246`.
import {
  AF_INET, AF_INET6, FIB_RULE_HDR_LEN, FRA_IIFNAME, FRA_PRIORITY, FRA_PROTOCOL, FRA_TABLE, FR_ACT_TO_TBL, NLMSG_HDRLEN,
  NLM_F_CREATE, NLM_F_EXCL, RTM_DELRULE, RTM_GETRULE, RTM_NEWRULE,
} from './constants.js';
import { AttrIterator, MessageBuilder, type MessageView } from './message.js';
import type { NetlinkClient } from './client.js';

// fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action, flags (u32).
const FRH_FAMILY = 0;
const FRH_TABLE = 4;
const FRH_ACTION = 7;

export interface Rule {
  family: 4 | 6;
  iif: string | null;
  table: number;
  priority: number | null;
  protocol: number;
  action: number;
}

export interface RuleSpec {
  family: 4 | 6;
  /** Packets that arrived on this interface (by name: the rule outlives the device). */
  iif: string;
  table: number;
  priority: number;
  protocol: number;
}

function ruleMessage(type: number, flags: number, spec: RuleSpec): Uint8Array {
  return new MessageBuilder(type, flags, FIB_RULE_HDR_LEN)
    .u8(FRH_FAMILY, spec.family === 4 ? AF_INET : AF_INET6)
    // Tables above 255 go only in FRA_TABLE (the header's byte says 0, RT_TABLE_UNSPEC).
    .u8(FRH_TABLE, spec.table < 256 ? spec.table : 0)
    .u8(FRH_ACTION, FR_ACT_TO_TBL)
    .attrString(FRA_IIFNAME, spec.iif)
    .attrU32(FRA_PRIORITY, spec.priority)
    .attrU32(FRA_TABLE, spec.table)
    .attrU8(FRA_PROTOCOL, spec.protocol)
    .finish();
}

/** `ip rule add iif DEV lookup TABLE pref N proto P` (CREATE|EXCL) */
export function encodeRuleAdd(spec: RuleSpec): Uint8Array {
  return ruleMessage(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, spec);
}

/** `ip rule del …` */
export function encodeRuleDel(spec: RuleSpec): Uint8Array {
  return ruleMessage(RTM_DELRULE, 0, spec);
}

/** `ip -4|-6 rule show` */
export function encodeRuleDump(family: 4 | 6): Uint8Array {
  return new MessageBuilder(RTM_GETRULE, 0, FIB_RULE_HDR_LEN).u8(FRH_FAMILY, family === 4 ? AF_INET : AF_INET6).finish();
}

export function decodeRule(m: MessageView): Rule | null {
  const b = m.off + NLMSG_HDRLEN;
  if (m.len < NLMSG_HDRLEN + FIB_RULE_HDR_LEN) return null;
  const af = m.buf[b + FRH_FAMILY];
  if (af !== AF_INET && af !== AF_INET6) return null;
  const r: Rule = { family: af === AF_INET ? 4 : 6, iif: null, table: m.buf[b + FRH_TABLE], priority: null, protocol: 0, action: m.buf[b + FRH_ACTION] };
  const it = new AttrIterator(m.buf, b + FIB_RULE_HDR_LEN, m.off + m.len);
  while (it.next()) {
    switch (it.type) {
      case FRA_IIFNAME: r.iif = it.string(); break;
      case FRA_PRIORITY: r.priority = it.u32(); break;
      case FRA_TABLE: r.table = it.u32(); break;
      case FRA_PROTOCOL: r.protocol = it.u8(); break;
    }
  }
  return r;
}

export async function dumpRules(nl: NetlinkClient, family: 4 | 6): Promise<Rule[]> {
  const replies = await nl.request(encodeRuleDump(family), { operation: `rule dump -${family}`, dump: true });
  return replies.filter((m) => m.type === RTM_NEWRULE).map(decodeRule).filter((r): r is Rule => r !== null);
}
