// Tunnels' counter rows in memory shared by the control thread and the
// datapath thread: pages of rows indexed by tunnel id, made as ids grow and
// never moved, so a row handed out stays valid for the daemon's life.
import { Counters, ROW_LENGTH } from './reasons.js';

/** 4096 rows a page (a little over 1 MiB with today's 33 numbers a row). */
export const ROWS_PER_PAGE = 4096;

/** Tunnel id's counters over its row in pages. */
export function countersIn(pages: readonly SharedArrayBuffer[], id: number): Counters {
  return new Counters(new Float64Array(pages[Math.floor(id / ROWS_PER_PAGE)], (id % ROWS_PER_PAGE) * ROW_LENGTH * 8, ROW_LENGTH));
}

export class CounterRows {
  readonly pages: SharedArrayBuffer[] = [];

  /** Tunnel id's counters, zeroed (a freed id is reused only once the
   * datapath thread has let go of it). */
  fresh(id: number): Counters {
    while (this.pages.length <= Math.floor(id / ROWS_PER_PAGE)) this.pages.push(new SharedArrayBuffer(ROWS_PER_PAGE * ROW_LENGTH * 8));
    const c = countersIn(this.pages, id);
    c.row.fill(0);
    return c;
  }
}
