// The service worker of the chat app: shows pushed messages as notifications and opens the
// conversation when one is clicked. The payload is docs/protocol.md's
// {type: "message", room_id, message_id, seq, sender_name, preview}.

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  if (data.type !== "message") return;
  event.waitUntil(
    self.registration.showNotification(data.sender_name || "New message", {
      body: data.preview || "",
      tag: `room-${data.room_id}`,
      icon: "/icon.svg",
      data: { room_id: data.room_id },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const room = event.notification.data?.room_id;
  const url = room ? `/?room=${encodeURIComponent(room)}` : "/";
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = windows[0];
      if (open) {
        await open.focus();
        if (room) open.postMessage({ type: "open-room", room_id: room });
        return;
      }
      await self.clients.openWindow(url);
    })(),
  );
});
