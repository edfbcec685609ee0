/** A token bucket for rate limits on generated packets (ICMPv6 errors, NAs). */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly ratePerSecond: number, private readonly burst: number) {
    this.tokens = burst;
    this.last = 0;
  }

  /** Takes one token at time now (ms); false when none is left. */
  take(now: number): boolean {
    if (now > this.last) {
      this.tokens += ((now - this.last) * this.ratePerSecond) / 1000;
      if (this.tokens > this.burst) this.tokens = this.burst;
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
