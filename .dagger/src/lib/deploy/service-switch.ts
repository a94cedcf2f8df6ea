/**
 * What production's Service records at each switch, so a rollback returns to exactly the release that was live:
 * the colour, its image and the digest its pods ran.
 */
import { serviceSelectorPatch, type Colour } from "./bluegreen";

/** Written on the Service at each switch: what was live before, so a rollback returns to exactly that. */
export const PREVIOUS_IMAGE_ANNOTATION = "observatory-ci.dev/previous-image";
export const PREVIOUS_COLOUR_ANNOTATION = "observatory-ci.dev/previous-colour";
/**
 * The digest the previously live colour ran (its pods' imageID, or its digest reference): what a rollback may
 * re-pin that colour to when its spec still names a tag (a release deployed before deploys were by digest).
 */
export const PREVIOUS_DIGEST_ANNOTATION = "observatory-ci.dev/previous-digest";

export function annotationsOf(object: Record<string, unknown>): Record<string, string> {
  const metadata = (object.metadata ?? {}) as { annotations?: Record<string, string> };
  return metadata.annotations ?? {};
}

/** The Service patch for a switch: the selector, and where it came from (for `rollback`). */
export function switchPatch(colour: Colour, fromColour: Colour, fromImage: string | undefined, fromDigest: string | null): string {
  return JSON.stringify({
    ...serviceSelectorPatch(colour),
    metadata: {
      annotations: { [PREVIOUS_COLOUR_ANNOTATION]: fromColour, [PREVIOUS_IMAGE_ANNOTATION]: fromImage ?? "", [PREVIOUS_DIGEST_ANNOTATION]: fromDigest ?? "" },
    },
  });
}
