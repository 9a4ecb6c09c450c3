// What the browser tests do as a user: find things on screen the way a person (or a screen
// reader) does, by role, label and text, and wait for them.

export const PASSWORD = "correct horse battery";

export const session = (user) =>
  user.page.evaluate(() => JSON.parse(localStorage.getItem("chat.session") ?? "null"));

/** Polls `fn` until it returns a truthy value. */
export async function until(what, fn, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

export const visible = (locator, timeout = 10_000) => locator.first().waitFor({ state: "visible", timeout });
export const hidden = (locator, timeout = 10_000) => locator.first().waitFor({ state: "hidden", timeout });
/** The connection state the app shows (on a phone, "connected" is shown by the absence of a banner). */
export const connection = (user, state) =>
  user.page.locator(`[data-connection="${state}"]`).waitFor({ state: "attached", timeout: 10_000 });

export const messages = (user) => user.page.getByRole("log");
export const message = (user, text) => messages(user).locator("li.msg").filter({ hasText: text });
/** A room of the list, by its name (not by the latest message it shows). */
export const roomButton = (user, name) =>
  user.page
    .getByRole("navigation", { name: "Conversations" })
    .locator("button.room")
    .filter({ has: user.page.locator(".room-name", { hasText: name }) });
export const unread = (user, name) => roomButton(user, name).locator("[data-unread]");
/** Waits until the room's unread badge shows `n`. */
export async function unreadIs(user, name, n) {
  const badge = unread(user, name);
  await until(`${user.name}'s unread count on "${name}" to be ${n}`, async () => {
    const shown = (await badge.count()) ? await badge.getAttribute("data-unread") : "none";
    if (shown === String(n)) return true;
    throw new Error(`shows ${shown}`);
  });
}
export const composer = (user) => user.page.getByLabel("Message", { exact: true });

export async function register(user, username, displayName) {
  const { page } = user;
  await page.goto("/");
  await page.getByRole("button", { name: "Create an account" }).click();
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Display name (optional)").fill(displayName);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await connection(user, "online");
  user.firstSession = await session(user);
  user.signedUpAt = Date.now();
}

export async function say(user, text) {
  await composer(user).fill(text);
  await composer(user).press("Enter");
  await visible(message(user, text).and(user.page.locator(":not(.pending)")));
}
