// A running sixtun node: opens the TUN and the raw socket, reconciles kernel
// state, starts the datapath thread, watches netlink to keep its state true,
// serves the control socket, and undoes everything on stop. Changes to the
// tunnels are tunnel-changes.ts's; what status shows, status-view.ts's.
import { chmodSync, chownSync, existsSync } from 'node:fs';
import { dropPrivileges, lookupGroup, lookupUser } from '../sys/privileges.js';
import { openOffloadedTun, probeCoalescedWrite } from '../datapath/offload.js';
import { openTun } from '../sys/tun.js';
import { NEXT_HEADER_TCP, NEXT_HEADER_UDP } from '../wire/ipv6.js';
import { openRaw4 } from '../sys/raw4.js';
import { isSysError, native } from '../sys/native.js';
import { NetlinkClient } from '../netlink/client.js';
import { NetlinkMonitor, type MonitorEvent } from '../netlink/monitor.js';
import { getRoute } from '../netlink/route.js';
import { IFF_UP, RTPROT_KERNEL, RTPROT_SIXTUN } from '../netlink/constants.js';
import { Reconciler, routeKey, ruleKey, type DesiredAddress, type DesiredProxy, type DesiredRoute, type DesiredRule } from './reconcile.js';
import { CrashRecord, recoverLeftovers, tunDevices } from './crash-record.js';
import { EchoCheck } from './echo-check.js';
import { EtcdRegistry } from '../store/registry.js';
import { offloadStatus, selectTunnels, tunnelStatus } from './status-view.js';
import { TunnelChanges, type ChangeResult, type TunnelHost } from './tunnel-changes.js';
import { UpdateApi } from './update-api.js';
import { exportedTunnel } from './export.js';
import { desiredState, localTunName, ndpTargets, poolPrefixes, tunPrefixRoutes, tunnelProxies, tunnelRoutes } from './desired.js';
import { ndpCountersJson } from '../ndp/responder.js';
import { openNdpSocket } from '../ndp/proxy.js';
import { getLink } from '../netlink/link.js';
import { dumpAddresses } from '../netlink/addr.js';
import { RT_SCOPE_LINK, RT_SCOPE_UNIVERSE } from '../netlink/constants.js';
import { ControlServer, type ControlRequest } from './control-server.js';
import type { Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { renderMetrics, serveMetrics } from './metrics.js';
import { TraceFilter, type TraceFilterSpec } from '../trace/filter.js';
import { DatapathThread, type NdpTarget } from '../datapath/thread.js';
import type { Logger } from './log.js';
import { DROP_NAMES } from '../datapath/reasons.js';
import type { TunnelSpec } from '../route/tunnel.js';
import { ConfigError, type ClientConfig, type Config, type ServerConfig, type TunnelConfig } from '../config/config.js';
import { checkPrivileges, preflight } from './preflight.js';
import { parseIpv4Address, IPPROTO_IPV6_IN_IPV4 } from '../wire/ipv4.js';
import { parseIp, type IpPrefix } from '../wire/address.js';

const REAPPLY_DELAY_MS = 50;

export function tunnelSpecs(cfg: Config, localIpv4: string): TunnelSpec[] {
  const common = { mtu: cfg.mtu, ttl: cfg.ttl, tosInherit: cfg.tosInherit, pmtuDiscovery: cfg.pmtuDiscovery };
  const localV4 = parseIpv4Address(localIpv4);
  if (cfg.mode === 'client') {
    return [{
      ...common, name: 'server', localV4, remoteV4: parseIpv4Address(cfg.serverIpv4),
      serverV6: parseIp(cfg.serverIpv6).bytes, clientV6: cfg.clientIpv6.bytes, pairLength: cfg.clientIpv6.length, routed: cfg.routes,
      ownSources: [cfg.clientIpv6, ...(cfg.lan ? [cfg.lan.address] : [])],
    }];
  }
  return cfg.tunnels.map((t) => serverTunnelSpec(cfg, t, localV4));
}

function serverTunnelSpec(cfg: ServerConfig, t: TunnelConfig, localV4: number): TunnelSpec {
  return {
    name: t.name, localV4, remoteV4: parseIpv4Address(t.clientIpv4), serverV6: t.serverIpv6.bytes,
    clientV6: parseIp(t.clientIpv6).bytes, pairLength: t.serverIpv6.length, routed: t.routedPrefixes,
    mtu: cfg.mtu, ttl: cfg.ttl, tosInherit: cfg.tosInherit, pmtuDiscovery: cfg.pmtuDiscovery,
  };
}

/** Signs that the kernel handles protocol 41 itself (sit/tunnel4 loaded):
 * it may then answer our traffic with ICMP port unreachable or deliver twice. */
export function kernelInterference(sysRoot = '/sys'): string[] {
  const found: string[] = [];
  for (const mod of ['sit', 'tunnel4', 'ipip']) if (existsSync(`${sysRoot}/module/${mod}`)) found.push(`kernel module ${mod} is loaded`);
  if (existsSync(`${sysRoot}/class/net/sit0`)) found.push('interface sit0 exists');
  return found;
}

export class Daemon implements TunnelHost {
  cfg: Config;
  localIpv4: string;
  private readonly started = Date.now();
  /** The datapath thread and the control thread's mirror of its tunnels. */
  private dp: DatapathThread | null = null;
  /** The NDP proxy's socket and interface (the proxy runs in the datapath thread). */
  private ndpFd = -1;
  private ndpIfindex = -1;
  private warnedNoUnreachableSource = false;
  private monitor: NetlinkMonitor | null = null;
  private control: ControlServer | null = null;
  /** Echo Requests to a tunnel's new endpoint (update API, `check_reachable`). */
  private echo: EchoCheck | null = null;
  /** With store.etcd: the registry shared with other servers. */
  private registry: EtcdRegistry | null = null;
  private reapplyTimer: NodeJS.Timeout | null = null;
  private repairTimer: NodeJS.Timeout | null = null;
  private repairs: { routes: DesiredRoute[]; prefixRoutes: DesiredRoute[]; addresses: DesiredAddress[]; proxies: DesiredProxy[]; rules: DesiredRule[] } = { routes: [], prefixRoutes: [], addresses: [], proxies: [], rules: [] };
  private stopping = false;
  private readonly interference: string[];
  private traceLostEnded = 0;
  private updateApi: UpdateApi | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly idle = new Set<string>();
  private localCheckTimer: NodeJS.Timeout | null = null;
  /** ifindex of the TUN in use: a deletion of this index means ours is gone. */
  private tunIndex = -1;
  /** The server's local TUN (desired.ts: serverAddressState), -1 on a client. */
  private localTunFd = -1;
  private localTunIndex = -1;
  private metrics: HttpServer | null = null;
  /** Changes to the tunnels while running (reload, `sixtun tunnel`, update API). */
  private readonly changes: TunnelChanges;
  /** Called when the daemon cannot go on (the datapath thread died): the caller stops it. */
  onFatal: ((error: Error) => void) | null = null;
  /** What to undo after a SIGKILL, written through descriptors opened as root. */
  private record: CrashRecord | null = null;

  private constructor(
    cfg: Config,
    localIpv4: string,
    readonly log: Logger,
    private readonly nl: NetlinkClient,
    private readonly reconciler: Reconciler,
    private tunFd: number,
    private readonly rawFd: number,
  ) {
    this.cfg = cfg;
    this.localIpv4 = localIpv4;
    this.interference = kernelInterference();
    this.changes = new TunnelChanges(this);
  }

  /** Opens everything and applies state; on any failure undoes what it did. */
  static async start(cfg: Config, log: Logger): Promise<Daemon> {
    checkPrivileges(cfg);
    const nl = new NetlinkClient();
    const undo: Array<() => void | Promise<void>> = [() => nl.close()];
    const unwind = async (): Promise<void> => {
      for (const u of undo.reverse()) {
        try { await u(); } catch (e) { log.warn('clean-up step failed', { error: (e as Error).message }); }
      }
    };
    try {
      await preflight(cfg, nl);
      await recoverLeftovers(cfg, nl, log);
      const shared = cfg.mode === 'server' && cfg.etcd !== null ? await EtcdRegistry.open(cfg, log) : null;
      if (shared) undo.push(() => shared.registry.close());
      const localIpv4 = cfg.mode === 'server' ? cfg.localIpv4 : await clientLocalAddress(cfg, nl);
      const tun = openTunOrExplain(cfg);
      undo.push(() => { native.close(tun.fd); });
      // Server addresses: what is for them goes to the server's stack through this one (desired.ts).
      const localTun = cfg.mode === 'server' ? openTun({ name: localTunName(cfg.interface) }).fd : -1;
      if (localTun >= 0) undo.push(() => { native.close(localTun); });
      if (tun.refused) log.warn('the kernel refused TUN offloads: running without them', { error: tun.refused });
      const rawFd = openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4, recvErr: true, bufferBytes: 4 << 20 });
      undo.push(() => { native.close(rawFd); });
      const reconciler = new Reconciler(nl, log);
      undo.push(() => reconciler.teardown());
      const d = new Daemon(cfg, localIpv4, log, nl, reconciler, tun.fd, rawFd);
      d.localTunFd = localTun;
      undo.push(() => d.changes.close());
      for (const w of d.interference) log.warn('kernel handles protocol 41 too', { detail: w });
      d.record = CrashRecord.create(cfg);
      undo.push(() => d.record?.discard());
      try {
        await reconciler.apply(desiredState(cfg, localIpv4));
      } finally {
        d.persistOwned();
      }
      d.tunIndex = native.ifNameToIndex(tun.name);
      if (localTun >= 0) d.localTunIndex = native.ifNameToIndex(localTunName(cfg.interface));
      // The link is up now: the only state in which the TUN accepts writes.
      let offload = tun.offload;
      if (offload === 'tso+gro' && !probeCoalescedWrite(tun.fd, NEXT_HEADER_TCP)) {
        offload = 'tso';
        log.warn('the kernel refuses coalesced TUN writes (EINVAL): GRO off, TSO on');
      }
      const udpGro = offload === 'tso+gro' && probeCoalescedWrite(tun.fd, NEXT_HEADER_UDP);
      if (offload === 'tso+gro' && !udpGro) log.warn('the kernel refuses coalesced UDP TUN writes (EINVAL, Linux before 6.2): UDP GRO off');
      log.info('TUN offloads', { offload, udpGro });
      const dp = await DatapathThread.start({ tunFd: tun.fd, localTunFd: localTun, rawFd, mode: cfg.mode, localV4: parseIpv4Address(localIpv4), offload, udpGro });
      d.dp = dp;
      // The thread first, then the NDP socket it watches (libuv aborts on a watched fd that was closed).
      undo.push(async () => {
        await dp.stop();
        if (d.ndpFd >= 0) native.close(d.ndpFd);
      });
      dp.onGroRefused = () => log.warn('the kernel refused a coalesced TUN write (EINVAL): GRO off from now on');
      // The netlink event may have reported it first: then that fd is replaced already.
      dp.onTunError = (fd) => { if (fd === d.tunFd) d.reopenTun(); };
      dp.onFatal = (e) => {
        log.error('the datapath thread failed: stopping', { error: e.message });
        d.onFatal?.(e);
      };
      dp.add(tunnelSpecs(cfg, localIpv4));
      await d.refreshHostAddresses();
      // Started means forwarding for every tunnel: the datapath thread has taken them all.
      await dp.stats();
      if (shared && cfg.mode === 'server') {
        d.registry = shared.registry;
        d.changes.followRegistry(shared.registry, shared.all, shared.revision);
        shared.registry.startReporting(() => ({
          name: cfg.serverName, groups: cfg.serverGroups, pid: process.pid, started: new Date(d.started).toISOString(), tunnels: dp.byName.size,
        }));
      }
      if (cfg.mode === 'server' && cfg.ndp === 'userspace') {
        await d.startNdp(cfg);
      }
      d.monitor = new NetlinkMonitor();
      d.monitor.on('event', (e) => d.onNetlinkEvent(e));
      // Events were lost: only a whole pass can tell what is missing.
      d.monitor.on('overrun', () => d.scheduleReapply('netlink overrun'));
      d.monitor.on('error', (e) => log.error('netlink monitor failed', { error: e.message }));
      undo.push(() => d.monitor?.close());
      d.control = new ControlServer(cfg.controlSocket, (req, conn) => d.handle(req, conn));
      await d.control.listen();
      undo.push(() => d.control?.close());
      if (cfg.metrics) {
        d.metrics = await serveMetrics(cfg.metrics.host, cfg.metrics.port, () => d.renderMetrics());
        log.info('metrics listening', { listen: `${cfg.metrics.host}:${cfg.metrics.port}` });
      }
      if (cfg.mode === 'server' && cfg.updateApi) {
        if (cfg.updateApi.checkReachable) {
          const echo = new EchoCheck(localIpv4);
          d.echo = echo;
          undo.push(() => echo.close());
        }
        const echo = d.echo;
        d.updateApi = new UpdateApi(d.changes.updateBackend(echo ? (ip) => echo.answers(ip) : undefined), { burst: cfg.updateApi.burst, endpointRanges: cfg.endpointRanges });
        await d.updateApi.listen(cfg.updateApi.host, cfg.updateApi.port);
        undo.push(() => d.updateApi?.close());
        log.info('update API listening', { listen: `${cfg.updateApi.host}:${cfg.updateApi.port}` });
      }
      if (cfg.mode === 'server' && cfg.idleTimeout > 0) {
        d.idleTimer = setInterval(() => d.checkIdle(), Math.min(10_000, (cfg.idleTimeout * 1000) / 4));
      }
      if (cfg.user !== null) d.dropPrivileges(cfg);
      log.info('sixtun started', {
        mode: cfg.mode, interface: cfg.interface, local_ipv4: localIpv4, tunnels: dp.byName.size, control_socket: cfg.controlSocket,
      });
      return d;
    } catch (e) {
      await unwind();
      throw e;
    }
  }

  /** Stops the datapath and removes everything sixtun added. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.reapplyTimer) clearTimeout(this.reapplyTimer);
    if (this.repairTimer) clearTimeout(this.repairTimer);
    if (this.idleTimer) clearInterval(this.idleTimer);
    if (this.localCheckTimer) clearTimeout(this.localCheckTimer);
    await this.updateApi?.close();
    this.echo?.close();
    // First: the other servers see this one gone (its liveness lease revoked).
    await this.registry?.close();
    await this.dp?.stop();
    if (this.ndpFd >= 0) native.close(this.ndpFd);
    this.monitor?.close();
    await this.control?.close();
    if (this.metrics) await new Promise<void>((r) => this.metrics!.close(() => r()));
    // Closing the TUN deletes the device, and with it every address and route
    // on it, in one step: teardown then skips them (one by one, 10^4
    // addresses took the kernel minutes).
    native.close(this.tunFd);
    if (this.localTunFd >= 0) native.close(this.localTunFd);
    this.changes.close();
    try {
      await this.reconciler.teardown();
      if (this.record?.finish(process.pid, this.cfg.interface) === false) {
        this.log.info('the crash record stays (its directory is not the dropped user\'s to change): it says there is nothing to undo', { file: `${this.cfg.controlSocket}.state.*` });
      }
    } finally {
      native.close(this.rawFd);
      this.nl.close();
    }
    this.log.info('sixtun stopped');
  }

  /** Hands the control socket (the socket, never its directory) and the
   * tunnel journal to the configured user, then becomes that user with only CAP_NET_ADMIN and
   * CAP_NET_RAW. */
  private dropPrivileges(cfg: Config): void {
    const account = lookupUser(cfg.user!);
    const group = cfg.controlGroup !== null ? lookupGroup(cfg.controlGroup) : account.gid;
    // Mode first: once the socket is the user's, changing it would take CAP_FOWNER.
    chmodSync(cfg.controlSocket, cfg.controlGroup !== null ? 0o660 : 0o600);
    chownSync(cfg.controlSocket, account.uid, group);
    this.changes.giveJournalTo(account.uid, account.gid);
    const unreached = dropPrivileges(account);
    this.log.info('dropped privileges', { user: cfg.user, uid: account.uid, capabilities: 'CAP_NET_ADMIN,CAP_NET_RAW', bounding: 'CAP_NET_ADMIN,CAP_NET_RAW', no_new_privs: true });
    if (unreached > 0) {
      this.log.warn('threads that block every signal kept the start\'s bounding set (Node.js 20\'s SIGUSR1 thread: Node 22.14 and later start without it)', { threads: unreached });
    }
  }

  /** The crash record (what to undo after a SIGKILL), written when it changed.
   * Addresses and routes on the TUN are left out: the TUN goes away with the
   * process, and they with it (a record of 10^5 of them would be rewritten on
   * every change). */
  persistOwned(): void {
    try {
      this.record?.write({ pid: process.pid, interface: this.cfg.interface, owned: this.reconciler.exportOwned(tunDevices(this.cfg)) });
    } catch (e) {
      this.log.warn('cannot record state for crash recovery', { file: `${this.cfg.controlSocket}.state.*`, error: (e as Error).message });
    }
  }

  /** Userspace NDP proxy on the external interface, answering from its
   * link-local address; its socket is opened here, the proxy runs in the
   * datapath thread. */
  private async startNdp(cfg: ServerConfig): Promise<void> {
    const link = await getLink(this.nl, cfg.externalInterface!);
    this.ndpFd = openNdpSocket(link.index);
    this.ndpIfindex = link.index;
    this.dp!.startNdp(this.ndpFd, link.index, { routerFlag: cfg.ndpRouterFlag, ratePerSolicitor: cfg.ndpRate });
    await this.refreshNdpInterface(cfg);
    const targets = this.refreshNdpTargets();
    this.log.info('NDP proxy listening', { interface: cfg.externalInterface, targets });
  }

  /** What the datapath needs of the host's IPv6 addresses: every global one
   * (an ICMPv6 error from one, into a tunnel, is the kernel's and takes the
   * tunnel's server address as source), and the source of the Destination
   * Unreachable errors for the pools' unassigned addresses, the external
   * interface's first global address (without one they are dropped and
   * counted, unanswered). */
  private async refreshHostAddresses(): Promise<void> {
    if (this.cfg.mode !== 'server') return;
    const pools = poolPrefixes(this.cfg);
    const global = (await dumpAddresses(this.nl, 6)).filter((a) => a.scope === RT_SCOPE_UNIVERSE);
    let source: Uint8Array | null = null;
    if (pools.length > 0 && this.cfg.externalInterface !== null) {
      const link = await getLink(this.nl, this.cfg.externalInterface);
      const own = global.find((a) => a.index === link.index);
      if (own) source = parseIp(own.address).bytes;
    }
    if (pools.length > 0 && source === null && !this.warnedNoUnreachableSource) {
      this.warnedNoUnreachableSource = true;
      this.log.warn('unassigned pool addresses are dropped without an ICMPv6 error: no global IPv6 address on external_interface');
    }
    this.dp!.hostAddresses(global.map((a) => parseIp(a.address).bytes), pools, source);
  }

  /** Tells the proxy the external interface's MAC and link-local address. */
  private async refreshNdpInterface(cfg: ServerConfig): Promise<void> {
    const ext = cfg.externalInterface!;
    const link = await getLink(this.nl, ext);
    const ll = (await dumpAddresses(this.nl, 6, link.index)).find((a) => a.scope === RT_SCOPE_LINK);
    if (!link.mac || link.mac.length !== 6) throw new Error(`external interface ${ext} has no Ethernet address: the userspace NDP proxy needs one (use ndp: kernel or off)`);
    if (!ll) throw new Error(`external interface ${ext} has no IPv6 link-local address: the NDP proxy answers from it`);
    this.dp!.ndpInterface(link.mac, parseIp(ll.address).bytes);
  }

  /** The prefixes the NDP proxy answers for on behalf of one tunnel. */
  private ndpPrefixes(cfg: ServerConfig, t: TunnelConfig): IpPrefix[] {
    const own = ndpTargets(cfg, t).map((a) => ({ family: 6 as const, bytes: parseIp(a).bytes, length: 128 }));
    return cfg.ndpRoutedPrefixes ? [...own, ...t.routedPrefixes] : own;
  }

  /** Which targets the NDP proxy answers for, all anew: live tunnels only.
   * Returns how many. */
  refreshNdpTargets(): number {
    if (this.ndpFd < 0 || this.cfg.mode !== 'server') return 0;
    const set: NdpTarget[] = [];
    for (const t of this.cfg.tunnels) {
      const tunnel = this.dp!.byName.get(t.name);
      if (!tunnel || this.idle.has(t.name)) continue;
      for (const prefix of this.ndpPrefixes(this.cfg, t)) set.push({ prefix, tunnelId: tunnel.id });
    }
    this.dp!.ndpTargets(true, set, []);
    return set.length;
  }

  /** Adds or removes the NDP targets of these tunnels alone. */
  private ndpTargetsOf(cfg: ServerConfig, list: TunnelConfig[], on: boolean): void {
    if (this.ndpFd < 0) return;
    const set: NdpTarget[] = [];
    const del: IpPrefix[] = [];
    for (const t of list) {
      const tunnel = this.dp!.byName.get(t.name);
      const answer = on && tunnel !== undefined && !this.idle.has(t.name);
      for (const prefix of this.ndpPrefixes(cfg, t)) {
        if (answer) set.push({ prefix, tunnelId: tunnel.id });
        else del.push(prefix);
      }
    }
    this.dp!.ndpTargets(false, set, del);
  }

  private onNetlinkEvent(e: MonitorEvent): void {
    if (this.stopping) return;
    if (this.cfg.mode === 'client' && this.cfg.localIpv4 === null && e.kind === 'addr' && e.address.family === 4) {
      this.scheduleLocalCheck();
    }
    if (e.kind === 'link' && e.action === 'del' && e.link.index === this.tunIndex) {
      this.reopenTun();
      return;
    }
    if (e.kind === 'link' && e.action === 'del' && e.link.index === this.localTunIndex) {
      this.reopenLocalTun();
      return;
    }
    if (this.ndpFd >= 0 && ((e.kind === 'addr' && e.address.index === this.ndpIfindex) || (e.kind === 'link' && e.link.index === this.ndpIfindex))) {
      this.refreshNdpInterface(this.cfg as ServerConfig).catch((err: Error) => this.log.warn('NDP proxy cannot read the external interface', { error: err.message }));
    }
    if (e.kind === 'addr' && e.address.family === 6 && e.address.scope === RT_SCOPE_UNIVERSE) {
      this.refreshHostAddresses().catch((err: Error) => this.log.warn('cannot read the host\'s addresses', { error: err.message }));
    }
    const iface = this.cfg.interface;
    const ext = this.cfg.mode === 'server' ? this.cfg.externalInterface : null;
    if (e.kind === 'link' && (e.link.name === iface || e.link.name === ext) && (e.link.flags & IFF_UP) === 0) {
      this.scheduleReapply(`link ${e.link.name} down`);
      return;
    }
    // A deletion of something of ours is repaired alone: only what the event
    // names, coalesced with other events for REAPPLY_DELAY_MS. Our own removals
    // are forgotten before they reach the kernel, so they are not repaired.
    if (e.action !== 'del') return;
    const link = (index: number | null): string | undefined => (index === null ? undefined : this.reconciler.linkName(index));
    if (e.kind === 'route' && e.route.protocol === RTPROT_SIXTUN) {
      // Ours carry no metric of their own: the kernel reports its default (1024 for IPv6).
      const dst = `${e.route.dst}/${e.route.dstLength}`;
      const r = this.reconciler.ownsRoute(routeKey({ dst, table: e.route.table, metric: e.route.metric ?? undefined }))
        ?? this.reconciler.ownsRoute(routeKey({ dst, table: e.route.table }));
      if (r) this.scheduleRepair({ routes: [r] });
    } else if (e.kind === 'route' && e.route.protocol === RTPROT_KERNEL && e.route.oif === this.tunIndex) {
      const dst = `${e.route.dst}/${e.route.dstLength}`;
      const r = tunPrefixRoutes(this.cfg, this.localIpv4).find((x) => x.dst === dst);
      if (r) this.scheduleRepair({ prefixRoutes: [r] });
    } else if (e.kind === 'addr') {
      const name = link(e.address.index);
      const a = name === undefined ? undefined : this.reconciler.ownsAddress(`${e.address.address}/${e.address.prefixLength}`, name);
      if (a) this.scheduleRepair({ addresses: [a] });
    } else if (e.kind === 'rule' && e.rule.protocol === RTPROT_SIXTUN && e.rule.iif !== null && e.rule.priority !== null) {
      const r = this.reconciler.ownsRule(ruleKey({ iif: e.rule.iif, table: e.rule.table, priority: e.rule.priority }));
      if (r) this.scheduleRepair({ rules: [r] });
    } else if (e.kind === 'neigh') {
      const name = link(e.neighbour.index);
      const p = name === undefined ? undefined : this.reconciler.ownsProxy(e.neighbour.dst, name);
      if (p) this.scheduleRepair({ proxies: [p] });
    }
  }

  /** Puts back what deletions took, once the burst of events is over. */
  private scheduleRepair(what: { routes?: DesiredRoute[]; prefixRoutes?: DesiredRoute[]; addresses?: DesiredAddress[]; proxies?: DesiredProxy[]; rules?: DesiredRule[] }): void {
    if (this.stopping) return;
    const r = this.repairs;
    r.routes.push(...(what.routes ?? []));
    r.rules.push(...(what.rules ?? []));
    r.prefixRoutes.push(...(what.prefixRoutes ?? []));
    r.addresses.push(...(what.addresses ?? []));
    r.proxies.push(...(what.proxies ?? []));
    if (this.repairTimer) return;
    this.repairTimer = setTimeout(() => {
      this.repairTimer = null;
      const todo = this.repairs;
      this.repairs = { routes: [], prefixRoutes: [], addresses: [], proxies: [], rules: [] };
      (async () => {
        // An address before the routes that may need it.
        await this.reconciler.ensureAddresses(todo.addresses);
        await this.reconciler.ensureKernelPrefixRoutes(todo.prefixRoutes);
        await this.reconciler.ensureRoutes(todo.routes);
        await this.reconciler.ensureRules(todo.rules);
        await this.reconciler.ensureProxies(todo.proxies);
      })().then(
        () => {
          this.persistOwned();
          this.log.info('repaired', { addresses: todo.addresses.length, routes: todo.routes.length, prefix_routes: todo.prefixRoutes.length, rules: todo.rules.length, proxies: todo.proxies.length });
        },
        (err: Error) => this.log.error('repair failed', { error: err.message }),
      );
    }, REAPPLY_DELAY_MS);
  }

  /** Someone deleted our TUN device: open it again and restore its state. */
  private reopenTun(): void {
    if (this.stopping) return;
    // The read error and the netlink event both report it; the second finds
    // the device already replaced (another index) and is ignored.
    this.tunIndex = -1;
    try {
      const was = this.dp?.offload ?? 'off';
      const tun = openOffloadedTun(this.cfg.interface, was !== 'off');
      const old = this.tunFd;
      this.tunFd = tun.fd;
      this.tunIndex = native.ifNameToIndex(tun.name);
      this.reconciler.forgetIndexes();
      // GRO stays as the last probe or refusal left it.
      const moved = this.dp?.replaceTun(tun.fd, tun.offload === 'off' ? 'off' : was) ?? Promise.resolve();
      void moved.then(() => native.close(old));
      this.log.warn('TUN device was deleted: created it again', { interface: this.cfg.interface });
    } catch (e) {
      this.log.error('cannot re-create the TUN device', { interface: this.cfg.interface, error: (e as Error).message });
    }
    this.scheduleReapply('TUN device re-created');
  }

  /** Someone deleted the local TUN: the same, for the server addresses. */
  private reopenLocalTun(): void {
    if (this.stopping) return;
    this.localTunIndex = -1;
    try {
      const name = localTunName(this.cfg.interface);
      const fd = openTun({ name }).fd;
      const old = this.localTunFd;
      this.localTunFd = fd;
      this.localTunIndex = native.ifNameToIndex(name);
      this.reconciler.forgetIndexes();
      void (this.dp?.replaceLocalTun(fd) ?? Promise.resolve()).then(() => native.close(old));
      this.log.warn('local TUN device was deleted: created it again', { interface: name });
    } catch (e) {
      this.log.error('cannot re-create the local TUN device', { error: (e as Error).message });
    }
    this.scheduleReapply('local TUN device re-created');
  }

  private scheduleReapply(reason: string): void {
    if (this.reapplyTimer || this.stopping) return;
    this.reapplyTimer = setTimeout(() => {
      this.reapplyTimer = null;
      (async () => {
        await this.reconciler.apply(desiredState(this.cfg, this.localIpv4));
        // After lost events too: the kernel's prefix routes of our addresses.
        await this.reconciler.ensureKernelPrefixRoutes(tunPrefixRoutes(this.cfg, this.localIpv4));
      })().then(
        () => {
          this.persistOwned();
          this.log.info('state re-applied', { reason });
        },
        (err: Error) => this.log.error('re-applying state failed', { reason, error: err.message }),
      );
    }, REAPPLY_DELAY_MS);
  }

  /** The fields other than tunnels: the log level now, the others at the next start. */
  takeSettings(next: Config): void {
    if (next.mode !== this.cfg.mode) throw new Error('mode cannot change on reload: restart sixtun');
    for (const key of ['interface', 'mtu', 'ttl', 'tosInherit', 'pmtuDiscovery', 'txQueueLen', 'controlSocket'] as const) {
      if (next[key] !== this.cfg[key]) this.log.warn('field changed on reload but needs a restart', { field: key });
    }
    if (next.mode === 'server' && this.cfg.mode === 'server' && JSON.stringify(next.pools) !== JSON.stringify(this.cfg.pools)) {
      // Pools carry routes and decide which tunnels need routes of their own: kept until a restart.
      this.log.warn('field changed on reload but needs a restart', { field: 'pools' });
      next.pools = this.cfg.pools;
    }
    this.log.setLevel(next.logLevel);
  }

  /** Datapath tables first, then the kernel, in batches. */
  /** SIGHUP (see TunnelChanges.reloadFromDisk). */
  reloadFromDisk(): Promise<ChangeResult> {
    return this.changes.reloadFromDisk();
  }

  async ipv4Networks(): Promise<Array<{ address: string; prefixLength: number }>> {
    return (await dumpAddresses(this.nl, 4)).map((a) => ({ address: a.address, prefixLength: a.prefixLength }));
  }

  moveTunnel(name: string, clientIpv4: string): void {
    this.dp!.setRemote(name, parseIpv4Address(clientIpv4));
  }

  async addTunnels(cfg: ServerConfig, list: TunnelConfig[]): Promise<void> {
    if (list.length === 0) return;
    this.dp!.add(list.map((t) => serverTunnelSpec(cfg, t, this.dp!.localV4)));
    this.ndpTargetsOf(cfg, list, true);
    await this.reconciler.ensureRoutes(list.flatMap((t) => tunnelRoutes(cfg, t)));
    await this.reconciler.ensureProxies(list.flatMap((t) => tunnelProxies(cfg, t)));
    if (list.length === 1) this.log.info('tunnel added', { tunnel: list[0].name, remote: list[0].clientIpv4 });
    else this.log.info('tunnels added', { count: list.length });
  }

  async removeTunnels(cfg: ServerConfig, list: TunnelConfig[]): Promise<void> {
    if (list.length === 0) return;
    this.ndpTargetsOf(cfg, list, false);
    this.dp!.remove(list.map((t) => t.name));
    await this.reconciler.removeProxies(list.flatMap((t) => tunnelProxies(cfg, t)));
    await this.reconciler.removeRoutes(list.flatMap((t) => tunnelRoutes(cfg, t)));
    if (list.length === 1) this.log.info('tunnel removed', { tunnel: list[0].name });
    else this.log.info('tunnels removed', { count: list.length });
  }

  private handle(req: ControlRequest, conn: Socket): unknown {
    switch (req.cmd) {
      case 'status':
        return this.status(req);
      case 'trace':
        return this.startTrace(req, conn);
      case 'tunnel':
        return this.changes.command(req);
      case 'cluster':
        if (!this.registry) throw Object.assign(new Error('this server keeps no shared registry (store.etcd)'), { code: 'ENOTSUP' });
        return this.registry.cluster().then((servers) => ({ servers }));
      case 'export': {
        const t = this.cfg.mode === 'server' ? this.cfg.tunnels.find((x) => x.name === req.name) : undefined;
        if (this.cfg.mode !== 'server' || !t) throw Object.assign(new Error(`no tunnel ${String(req.name)}`), { code: 'ENOENT' });
        return exportedTunnel(this.cfg, t);
      }
      default:
        throw Object.assign(new Error(`unknown command ${JSON.stringify(req.cmd)}`), { code: 'ENOSYS' });
    }
  }

  /** `sixtun trace`: one JSON line, then a pcapng stream until the client closes. */
  private startTrace(req: ControlRequest, conn: Socket): undefined {
    const spec = (req.filter ?? {}) as TraceFilterSpec;
    // Refused here, before the stream starts, when the filter does not parse.
    new TraceFilter(spec);
    const snapLen = typeof req.snaplen === 'number' && req.snaplen > 0 ? Math.min(req.snaplen, 65535) : 65535;
    conn.write(JSON.stringify({ ok: true, result: { stream: 'pcapng', snaplen: snapLen } }) + '\n');
    const ext = this.cfg.mode === 'server' ? this.cfg.externalInterface ?? 'ext' : 'ext';
    const names = { inner: `${this.cfg.interface} (inner IPv6)`, outer: 'wire (outer IPv4, protocol 41)', ndp: `${ext} (NDP)` };
    this.dp!.trace(spec, snapLen, names, conn, (captured, lost) => {
      this.traceLostEnded += lost;
      this.log.info('trace ended', { captured, lost });
    });
    this.log.info('trace started', { filter: req.filter ?? {} });
    return undefined;
  }

  /** Tunnels without a received packet for idle_timeout lose their NDP answers until traffic returns. */
  private checkIdle(): void {
    if (this.cfg.mode !== 'server' || this.cfg.idleTimeout <= 0) return;
    const limit = Date.now() - this.cfg.idleTimeout * 1000;
    const changed = new Set<string>();
    for (const t of this.dp!.byName.values()) {
      const last = Math.max(t.counters.lastRx, this.started);
      const idle = last < limit;
      if (idle !== this.idle.has(t.spec.name)) {
        changed.add(t.spec.name);
        if (idle) this.idle.add(t.spec.name);
        else this.idle.delete(t.spec.name);
        this.log.info(idle ? 'tunnel idle: NDP answers stop' : 'tunnel active again', { tunnel: t.spec.name });
      }
    }
    // Only the tunnels that changed: their targets set or deleted as they now are.
    if (changed.size > 0) this.ndpTargetsOf(this.cfg, this.cfg.tunnels.filter((t) => changed.has(t.name)), true);
  }

  /** A client whose local IPv4 comes from the route to the server: notice a
   * change, move the tunnel to it, and tell the server through its update URL. */
  private scheduleLocalCheck(): void {
    if (this.localCheckTimer || this.stopping) return;
    this.localCheckTimer = setTimeout(() => {
      this.localCheckTimer = null;
      this.checkLocalAddress().catch((e: Error) => this.log.warn('cannot follow the local IPv4 address', { error: e.message }));
    }, 200);
  }

  private async checkLocalAddress(): Promise<void> {
    if (this.cfg.mode !== 'client') return;
    let now: string | null = null;
    try {
      now = (await getRoute(this.nl, this.cfg.serverIpv4)).prefsrc;
    } catch {
      return; // no route to the server right now; a later address event retries
    }
    if (!now || now === this.localIpv4) return;
    const before = this.localIpv4;
    this.localIpv4 = now;
    this.dp!.setLocal(parseIpv4Address(now));
    this.log.info('local IPv4 changed', { from: before, to: now });
    if (this.cfg.update) this.log.info('endpoint update sent', { answer: await sendEndpointUpdate(this.cfg.update, now) });
  }

  async renderMetrics(): Promise<string> {
    const stats = await this.dp!.stats();
    const lost = stats.traces.reduce((sum, t) => sum + t.lost, this.traceLostEnded);
    return renderMetrics(this.dp!, stats.ndp, lost, stats.offloadStats, this.cfg.metrics?.perTunnel);
  }

  /** The daemon's state and the tunnels the request asks for (selectTunnels). */
  async status(req: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const dp = this.dp!;
    const { page, matched } = selectTunnels(dp, req);
    const tunnels = page.map((t) => ({
      ...tunnelStatus(t),
      endpoint_changes: this.changes.endpointChanges.get(t.spec.name)?.count ?? 0,
      last_endpoint_change: this.changes.endpointChanges.has(t.spec.name) ? new Date(this.changes.endpointChanges.get(t.spec.name)!.last).toISOString() : null,
      idle: this.idle.has(t.spec.name),
    }));
    const stats = await dp.stats();
    const memory = process.memoryUsage();
    return {
      tunnel_count: dp.byName.size,
      matched,
      mode: this.cfg.mode,
      interface: this.cfg.interface,
      local_ipv4: this.localIpv4,
      pid: process.pid,
      memory: { rss: memory.rss, heap_used: memory.heapUsed, datapath_heap_used: stats.heapUsed },
      started: new Date(this.started).toISOString(),
      kernel_interference: this.interference,
      // Counts: the objects themselves are in the crash record (<control_socket>.state.0 and .1).
      owned: this.reconciler.ownedCounts(),
      route_conflicts: [...this.reconciler.conflicts.keys()],
      drops_without_tunnel: dp.global.dropsByName(),
      offload: { mode: stats.offload, udp_gro: stats.offload === 'tso+gro' && stats.udpGro, ...offloadStatus(stats.offloadStats) },
      ndp: this.cfg.mode === 'server' ? { mode: this.cfg.ndp, ...(stats.ndp ? ndpCountersJson(stats.ndp) : {}) } : null,
      drop_reasons: DROP_NAMES,
      traces: stats.traces.map((t) => ({ captured: t.captured, lost: t.lost })),
      tunnels,
    };
  }
}

/** GET the server's update URL with our new address (Basic auth); returns its answer. */
export async function sendEndpointUpdate(update: { url: string; user: string; key: string }, ipv4: string): Promise<string> {
  const url = new URL(update.url);
  url.searchParams.set('myip', ipv4);
  const auth = Buffer.from(`${update.user}:${update.key}`).toString('base64');
  const res = await fetch(url, { headers: { authorization: `Basic ${auth}` }, signal: AbortSignal.timeout(10_000) });
  return (await res.text()).trim();
}

/** The TUN, or what to fix when its name is taken by a program that holds it open. */
function openTunOrExplain(cfg: Config): ReturnType<typeof openOffloadedTun> {
  try {
    return openOffloadedTun(cfg.interface, cfg.offload);
  } catch (e) {
    if (isSysError(e, 'EBUSY')) throw new ConfigError(cfg.file, null, 'interface', `${cfg.interface} is a TUN device held open by another program: set interface to a free name`);
    throw e;
  }
}

/** The client's local IPv4: configured, or the source the kernel would use towards the server. */
async function clientLocalAddress(cfg: ClientConfig, nl: NetlinkClient): Promise<string> {
  if (cfg.localIpv4 !== null) return cfg.localIpv4;
  const r = await getRoute(nl, cfg.serverIpv4);
  if (!r.prefsrc) throw new Error(`no local IPv4 address towards ${cfg.serverIpv4}: set local_ipv4 in ${cfg.file}`);
  return r.prefsrc;
}
