"""The bottom layer: leaves every app may read (queue names, environment, text, API errors, the doctor's registry)."""
