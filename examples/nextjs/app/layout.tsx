import type { Metadata } from "next";
import "./globals.css";

export const metadata: Metadata = {
  title: "pusher-edge + Next.js",
  description: "pusher-js and the pusher server SDK against pusher-edge",
  icons: { icon: "data:," }, // no favicon request
};

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
