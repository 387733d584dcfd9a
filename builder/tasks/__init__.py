"""The corpus and labels into Label Studio task payloads: claims, stance pairs, adjudication."""
