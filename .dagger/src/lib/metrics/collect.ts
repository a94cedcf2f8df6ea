/**
 * Reading every page of a GitHub listing through one request function (metrics.ts runs each request in a
 * curl container): follows `rel="next"`, waits out rate limits as retryDecision says, and stops early when
 * the caller has seen enough (listings sorted newest first reach the window's start).
 */
import type { Clock } from "../clock";
import { nextPage, pageItems, retryDecision, type ApiResponse } from "./github-api";

export type SendRequest = (url: string) => Promise<ApiResponse>;

export interface CollectOptions<T> {
  /** Key of the array in the response object; absent when the body is the array. */
  key?: string;
  /** Turns one raw item into what the caller keeps (throws on a malformed item). */
  parse: (item: Record<string, unknown>, where: string) => T;
  /** Stop after the page on which this returns true for an item (e.g. older than the window). */
  stopAfter?: (item: T) => boolean;
  /** Never read more than this many pages; the result says when it stopped there. */
  maxPages: number;
  maxAttempts?: number;
  /** What is being listed, for errors ("workflow runs"). */
  what: string;
}

export interface Collected<T> {
  items: T[];
  pages: number;
  /** True when maxPages stopped the listing while GitHub had more. */
  truncated: boolean;
}

/** One request, retried on rate limits and server errors; throws with GitHub's answer on anything else. */
export async function requestWithRetry(send: SendRequest, url: string, clock: Clock, what: string, maxAttempts = 5): Promise<ApiResponse> {
  for (let attempt = 0; ; attempt++) {
    const response = await send(url);
    if (response.status >= 200 && response.status < 300) return response;
    const decision = retryDecision(response, clock.now(), attempt, maxAttempts);
    if (!decision.retry) {
      throw new Error(`metrics: GitHub API ${what} failed (${decision.reason}) for ${url}: ${response.body.slice(0, 300)}`);
    }
    await clock.sleep(decision.waitMs);
  }
}

export async function collectPages<T>(send: SendRequest, firstUrl: string, clock: Clock, options: CollectOptions<T>): Promise<Collected<T>> {
  const items: T[] = [];
  let url: string | undefined = firstUrl;
  let pages = 0;
  while (url !== undefined) {
    if (pages >= options.maxPages) return { items, pages, truncated: true };
    const response = await requestWithRetry(send, url, clock, options.what, options.maxAttempts);
    pages++;
    const page = pageItems(response.body, options.key, `${options.what}, page ${pages}`).map((item) => options.parse(item, `${options.what}, page ${pages}`));
    items.push(...page);
    if (options.stopAfter && page.some(options.stopAfter)) break;
    url = nextPage(response);
  }
  return { items, pages, truncated: false };
}
