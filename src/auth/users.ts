/**
 * Who runs an export: a token's user or a client certificate's common
 * name, and the names the metrics keep for no user and for many.
 */

/** The `user` label of exports whose caller is not authenticated. */
export const ANONYMOUS_USER = "anonymous";
/** The `user` label shared by users past `METRICS_MAX_USERS`. */
export const OTHER_USERS = "other";

const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;

/** What {@link isUserName} takes, for messages. */
export const USER_NAME_RULE = `1 to 64 letters, digits or ._@-, and not ${ANONYMOUS_USER} or ${OTHER_USERS}`;

/**
 * Whether `name` can name a user: a token file's entry or a certificate's
 * common name. Not the metrics' own labels, which a user so named would
 * be counted under.
 */
export function isUserName(name: string): boolean {
  return USER_NAME.test(name) && name !== ANONYMOUS_USER && name !== OTHER_USERS;
}
